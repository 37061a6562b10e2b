"""Recording a connection's mailbox: what came in, when, and how the waits ended.

A recording is a file of length-prefixed msgpack frames: one
``RecordingHeader``, then ``RecordedMessage`` (a protocol message with its
sequence number and clock reading), ``RecordedWait`` (a wait that started, with
its predicate and timeout) and ``RecordedWaitEnd`` (how it ended: ``met``,
``timeout``, ``cancelled`` or ``closed``), and ``RecordedEnd`` when the
connection closes. Participants' provider objects are
left out, as on the wire. ``transport.replay`` plays a recording back on a
virtual clock. A ``Recorder`` is written only by its connection actor, on the
actor's loop; the file itself is created, written and closed on one writer
thread shared by every recorder of the process, so no file I/O runs on a loop.
``written()`` returns once everything recorded so far is in its file.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import msgspec

from actors.predicates import (
    AtLeast,
    EmptyFor,
    KindPresent,
    Predicate,
    Someone,
    TrackPublished,
    UserPresent,
)
from messages import Message, ProtocolError, strict_decode, wire_form

__all__ = [
    "RecordedEnd",
    "RecordedMessage",
    "RecordedWait",
    "RecordedWaitEnd",
    "Recorder",
    "RecordingHeader",
    "read_recording",
    "written",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
ReplayablePredicate = Someone | UserPresent | KindPresent | TrackPublished | AtLeast | EmptyFor


class RecordingHeader(msgspec.Struct, frozen=True, tag=True):
    """What was recorded: the call, the agent, when it started and the connection's options."""

    version: int
    call_id: str
    agent_user_id: str
    started_at: float
    options: dict[str, Any] = msgspec.field(default_factory=dict)


class RecordedMessage(msgspec.Struct, frozen=True, tag=True):
    """A protocol message the connection actor took, at clock reading ``at``."""

    seq: int
    at: float
    message: Message


class RecordedWait(msgspec.Struct, frozen=True, tag=True):
    """Wait number ``wait`` started; ``predicate`` is ``None`` for one that cannot be replayed."""

    seq: int
    at: float
    wait: int
    predicate: ReplayablePredicate | None
    timeout: float | None


class RecordedWaitEnd(msgspec.Struct, frozen=True, tag=True):
    """Wait number ``wait`` ended: ``met``, ``timeout``, ``cancelled`` or ``closed``."""

    seq: int
    at: float
    wait: int
    outcome: str


class RecordedEnd(msgspec.Struct, frozen=True, tag=True):
    """The connection closed at ``at`` (for ``reason``); the last frame of a recording."""

    seq: int
    at: float
    reason: str


Frame = RecordingHeader | RecordedMessage | RecordedWait | RecordedWaitEnd | RecordedEnd

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Frame)
_length = struct.Struct(">I")


_writer: ThreadPoolExecutor | None = None  # one worker: the order of submission is kept


def _submit(work: Callable[..., None], *args: Any) -> Future[None]:
    global _writer  # made on first use: most processes record nothing
    if _writer is None:
        _writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-actors-recorder")
    return _writer.submit(work, *args)


def _nothing() -> None:
    return None


async def written() -> None:
    """Return once every frame recorded so far (by any recorder) is in its file, closed
    files closed. Await it on any loop; ``Connection.close()`` does, for a recorded one."""
    if _writer is not None:
        await asyncio.wrap_future(_submit(_nothing))


class Recorder:
    """Appends frames to a recording file, each flushed in turn, off the loop.

    Frames are encoded on the caller's thread and written in order on the
    writer thread. A file that cannot be created is logged once and its frames
    are dropped: a recording is a diagnostic, never a reason to fail a call.
    """

    def __init__(self, path: str | Path, header: RecordingHeader) -> None:
        self.path = Path(path)
        self._file: IO[bytes] | None = None  # the writer thread's alone
        self._open = True
        self._seq = 0
        self._waits: dict[Any, int] = {}  # the open waits: wait number by the wait's future
        self._wait_count = 0
        _submit(self._create)
        self._write(header)

    def _create(self) -> None:  # on the writer thread
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
        except OSError:
            logger.exception("cannot record to %s; this connection is not recorded", self.path)

    def _append(self, data: bytes) -> None:  # on the writer thread
        if self._file is not None:
            self._file.write(data)
            self._file.flush()

    def _close_file(self) -> None:  # on the writer thread
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, frame: Frame) -> None:
        if not self._open:
            return
        data = _encoder.encode(frame)
        _submit(self._append, _length.pack(len(data)) + data)

    def _next(self) -> int:
        self._seq += 1
        return self._seq

    def message(self, at: float, message: Message) -> None:
        """Record a protocol message taken by the actor."""
        self._write(RecordedMessage(self._next(), at, wire_form(message)))

    def wait(self, at: float, future: Any, predicate: Predicate, timeout: float | None) -> None:
        """Record that a wait started, as the next wait number; ``future`` names it from now on."""
        self._wait_count += 1
        self._waits[future] = self._wait_count
        replayable = predicate if isinstance(predicate, ReplayablePredicate) else None
        self._write(RecordedWait(self._next(), at, self._wait_count, replayable, timeout))

    def wait_end(self, at: float, future: Any, outcome: str) -> None:
        """Record how the wait of ``future`` ended; a wait not open (or ended) is ignored."""
        number = self._waits.pop(future, None)
        if number is not None:
            self._write(RecordedWaitEnd(self._next(), at, number, outcome))

    def open_waits(self) -> list[Any]:
        """The futures of the waits recorded as started and not yet as ended."""
        return list(self._waits)

    def end(self, at: float, reason: str) -> None:
        """Record that the connection closed, and close the file."""
        self._write(RecordedEnd(self._next(), at, reason))
        self.close()

    def close(self) -> None:
        """Close the file (once what was recorded is written); later frames are ignored."""
        if self._open:
            self._open = False
            _submit(self._close_file)


def read_recording(path: str | Path) -> Iterator[Frame]:
    """Yield the frames of a recording in order (the header first).

    It reads the file as it goes: iterate it off the loop (``transport.replay``
    reads it in a worker thread).
    """
    with Path(path).open("rb") as file:
        while True:
            prefix = file.read(_length.size)
            if not prefix:
                return
            if len(prefix) < _length.size:
                msg = f"{path}: truncated frame header"
                raise ProtocolError(msg)
            (size,) = _length.unpack(prefix)
            data = file.read(size)
            if len(data) < size:
                msg = f"{path}: truncated frame"
                raise ProtocolError(msg)
            yield strict_decode(_decoder.decode, data, f"recording frame in {path}")
