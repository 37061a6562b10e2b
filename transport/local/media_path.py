"""aiortc's media path, cheaper: no Python loop per sample, no thread per audio frame, no
decoding of what nobody reads.

aiortc puts the RFC 6465 level (dBov, 0 to -127) of every audio frame it
sends into the RTP header, and computes it with a Python loop over every
sample: for a voice host, the largest single cost on its event loop (the
``voice_density`` benchmark). ``audio_level_dbov`` computes the same value with
numpy's integer arithmetic: the sum of squares of int16 samples is exact in
int64 (and in aiortc's float, which stays below 2**53 for any frame aiortc
sends), so the result is identical, frame for frame. No float BLAS call is
made: BLAS would start threads of its own on the media path.

aiortc also encodes every audio frame in the default executor (a hop to a
worker thread and back per frame) and decodes every received audio track in a
thread of its own, fed through a queue. Opus frames are small: encoding and
decoding them on the loop costs less than the hops, and a voice host then runs
no thread per call (``actors._compat.encode_and_decode_audio_on_the_loop``).

``gate(receiver)`` makes a received track decode only while someone reads it
(``LocalEdge.add_track_subscriber``): until then its encoded frames are
dropped before any decoder, and a video track holds no decoder thread.

``install()`` does the rest for the whole process (every
``RTCPeerConnection``, ours or not, gets identical frames and levels), which
``LocalEdge`` and ``LocalParticipant`` do when made. Any thread.
"""

from __future__ import annotations

import math
from typing import Any

import numpy

from actors._compat import (
    DecodeGate,
    aiortc_audio_level,
    encode_and_decode_audio_on_the_loop,
    gate_decoding,
    replace_aiortc_audio_level,
)

__all__ = ["AIORTC_LEVEL", "DecodeGate", "audio_level_dbov", "gate", "install"]

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
    """Give every aiortc peer connection in this process the cheaper audio path; idempotent."""
    global _installed  # set once, never unset: a flag, not state to share
    if not _installed:
        replace_aiortc_audio_level(audio_level_dbov)
        encode_and_decode_audio_on_the_loop()
        _installed = True


def gate(receiver: Any) -> DecodeGate | None:
    """Have ``receiver`` (an aiortc ``RTCRtpReceiver``) decode only while its gate is open.

    Returns the closed gate (``open()`` when someone reads the track,
    ``close()`` when the last stops), or ``None`` if the receiver has started
    already and decodes as aiortc does. Needs ``install()`` first. On the loop.
    """
    return gate_decoding(receiver)
