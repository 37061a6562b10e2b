"""The audio level of each frame aiortc sends, computed without a Python loop per sample.

aiortc puts the RFC 6465 level (dBov, 0 to -127) of every audio frame it
sends into the RTP header, and computes it with a Python loop over every
sample: for a voice host, the largest single cost on its event loop (the
``voice_density`` benchmark). ``audio_level_dbov`` computes the same value with
numpy's integer arithmetic: the sum of squares of int16 samples is exact in
int64 (and in aiortc's float, which stays below 2**53 for any frame aiortc
sends), so the result is identical, frame for frame. No float BLAS call is
made: BLAS would start threads of its own on the media path.

``install()`` puts it in aiortc's place for the whole process (every
``RTCPeerConnection``, ours or not), which ``LocalEdge`` and ``LocalParticipant``
do when made. Any thread.
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from actors._compat import aiortc_audio_level, replace_aiortc_audio_level

__all__ = ["AIORTC_LEVEL", "audio_level_dbov", "install"]

_MAX_SAMPLE = 32767
_MIN_LEVEL = -127
_installed = False

AIORTC_LEVEL = aiortc_audio_level()
"""aiortc's own function, kept as it was before ``install()``: what ours must equal."""


def audio_level_dbov(frame: Any) -> int:
    """The level of ``frame`` (an ``av.AudioFrame`` of packed s16) in dBov, as aiortc has it.

    As aiortc does, it reads every 16-bit value of the first plane and divides
    by ``frame.samples`` (samples per channel), whatever the channel count.
    """
    samples = numpy.frombuffer(frame.planes[0], dtype=numpy.int16).astype(numpy.int64)
    energy = int(samples.dot(samples))
    if energy == 0:
        return _MIN_LEVEL
    rms = math.sqrt(energy / (frame.samples * _MAX_SAMPLE * _MAX_SAMPLE))
    db = 20 * math.log10(rms)
    return round(min(max(db, _MIN_LEVEL), 0))


def install() -> None:
    """Have every aiortc sender in this process use ``audio_level_dbov``; idempotent."""
    global _installed  # set once, never unset: a flag, not state to share
    if not _installed:
        replace_aiortc_audio_level(audio_level_dbov)
        _installed = True
