"""The audio level our senders put in each RTP packet equals aiortc's own, frame for frame."""

from __future__ import annotations

import av
import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors._compat import aiortc_audio_level
from transport.local import LocalEdge
from transport.local.media_path import AIORTC_LEVEL, audio_level_dbov


def _frame(values: list[int], layout: str) -> av.AudioFrame:
    channels = 2 if layout == "stereo" else 1
    frame = av.AudioFrame(format="s16", layout=layout, samples=len(values) // channels)
    frame.planes[0].update(numpy.array(values, dtype=numpy.int16).tobytes())
    frame.sample_rate = 48_000
    return frame


@pytest.mark.parametrize("layout", ["mono", "stereo"])
@pytest.mark.parametrize("value", [0, 1, -1, 100, -100, 8_000, 32_767, -32_768])
def test_constant_frames_have_aiortcs_level(layout: str, value: int) -> None:
    frame = _frame([value] * 960 * (2 if layout == "stereo" else 1), layout)
    assert audio_level_dbov(frame) == AIORTC_LEVEL(frame)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    layout=st.sampled_from(["mono", "stereo"]),
    amplitude=st.sampled_from([1, 3, 40, 700, 12_000, 32_767]),
    seed=st.integers(0, 2**32 - 1),
    samples=st.sampled_from([80, 160, 480, 960]),
)
def test_varied_frames_have_aiortcs_level(
    layout: str, amplitude: int, seed: int, samples: int
) -> None:
    channels = 2 if layout == "stereo" else 1
    rng = numpy.random.default_rng(seed)
    values = rng.integers(-amplitude, amplitude, samples * channels, endpoint=True).tolist()
    frame = _frame(values, layout)
    assert audio_level_dbov(frame) == AIORTC_LEVEL(frame)


def test_an_edge_installs_it_for_every_sender_in_the_process() -> None:
    LocalEdge()
    assert aiortc_audio_level() is audio_level_dbov
    assert AIORTC_LEVEL is not audio_level_dbov
