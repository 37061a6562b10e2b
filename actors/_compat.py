"""The pykka and asyncio internals edge-actors relies on, and where each is used.

The aiortc internals the local edge's media path uses are here too, each in
the function or class that uses it (``aiortc_audio_level``,
``encode_and_decode_audio_on_the_loop``, ``DecodeGate``, ``gate_decoding``),
checked the same way.

Names taken from pykka's or asyncio's private modules are taken here, once,
each with what it is for: ``Envelope``, ``ActorStop``, ``UNSET_HOOK_RESULT``
and asyncio's ``_get_running_loop`` (``running_loop``). Beyond those names the
runtime relies on two things of theirs, also checked: pykka's extension points
for new actor types, which ``AsyncioActor`` and its ref override
(``_create_actor_inbox``, ``_create_future``, ``_start_actor_loop``,
``_handle_receive``, ``_handle_failure``, ``_stop``, ``_actor_weakref``), and the
``_thread_id`` asyncio's loops keep while they run, read through the
``LoopThread`` protocol below (``loop_thread``; the dispatcher's ``loop_here``).
``tests/runtime/test_compat.py`` checks every one against the installed pykka
and CPython and fails loudly, naming it, if a release changes one. Checked
against pykka 4.5 (setup.cfg allows ``>=4.5,<5``) and CPython 3.11.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Any, Protocol, cast

from pykka import messages as _pykka_messages
from pykka._envelope import Envelope
from pykka._future import _Unset

__all__ = [
    "ActorStop",
    "Envelope",
    "LoopThread",
    "NOWHERE",
    "OptExcInfo",
    "UNSET_HOOK_RESULT",
    "aiortc_audio_level",
    "DecodeGate",
    "encode_and_decode_audio_on_the_loop",
    "gate_decoding",
    "replace_aiortc_audio_level",
    "loop_thread",
    "running_loop",
]

OptExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
"""What ``sys.exc_info()`` returns; pykka's futures take it (``pykka._types.OptExcInfo``)."""

Envelope = Envelope
"""pykka's mailbox item: ``message`` and ``reply_to``; ``ask`` and ``stop`` put one in an inbox."""

ActorStop: type[Any] = _pykka_messages._ActorStop
"""The message ``ActorRef.stop()`` sends; an actor type must stop when it takes it."""

UNSET_HOOK_RESULT: Any = _Unset()
"""pykka's marker for "no get-hook result yet" in ``Future._get_hook_result`` (one, shared)."""

running_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio._get_running_loop
"""The running loop of this thread, or ``None``; the cheap form for hot paths."""


class LoopThread(Protocol):
    """Which thread runs an event loop now, read in one attribute (see ``loop_thread``)."""

    @property
    def _thread_id(self) -> int | None:
        """The ident of the thread running the loop now; ``None`` while it runs nowhere."""


def loop_thread(loop: asyncio.AbstractEventLoop) -> LoopThread:
    """What tells, cheaply, whether ``loop`` runs in the calling thread.

    ``loop_thread(loop)._thread_id == threading.get_ident()`` holds exactly
    while ``loop`` runs in this thread: the test a thread-safe ``tell`` makes
    on every call. asyncio's own loops keep that field (``run_forever`` sets
    ``BaseEventLoop._thread_id`` and clears it when it returns), so for them
    this is the loop itself, and the test is one attribute read.
    ``asyncio._get_running_loop() is loop`` says the same, but on CPython 3.11
    it makes a ``getpid()`` system call each time. Loops that do
    not keep the field (uvloop) get a stand-in that asks
    ``_get_running_loop()``: as exact, no faster.
    """
    if isinstance(loop, asyncio.BaseEventLoop):
        return cast("LoopThread", loop)  # asyncio's loops keep the field
    return _AskRunningLoop(loop)


class _AskRunningLoop:
    """``LoopThread`` for a loop that does not keep ``_thread_id``; holds it weakly."""

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = weakref.ref(loop)

    @property
    def _thread_id(self) -> int | None:
        running = running_loop()
        if running is not None and running is self._loop():
            return threading.get_ident()
        return None


class _Nowhere:
    """``LoopThread`` of no loop: it runs on no thread."""

    __slots__ = ()
    _thread_id = None


NOWHERE: LoopThread = _Nowhere()
"""A ``LoopThread`` that never matches: for a mailbox with no loop, a future with no waiter."""


def aiortc_audio_level() -> Callable[[Any], int]:
    """aiortc's ``rtp.compute_audio_level_dbov``: the RFC 6465 level of an audio frame it sends.

    ``RTCRtpSender`` calls it through the module for every audio frame, so
    ``replace_aiortc_audio_level`` acts on every sender in the process. Needs
    aiortc (extra ``local``).
    """
    import aiortc.rtp

    level: Callable[[Any], int] = aiortc.rtp.compute_audio_level_dbov
    return level


def replace_aiortc_audio_level(compute: Callable[[Any], int]) -> None:
    """Make every aiortc sender in the process compute the audio level with ``compute``.

    Only a function that returns what aiortc's own does, for every frame, may
    be given. Any thread, before or while senders run.
    """
    import aiortc.rtp

    aiortc.rtp.compute_audio_level_dbov = compute  # type: ignore[assignment]  # any frame it sends


# -- aiortc's audio path: encode and decode on the loop, not in threads -----------------


class _InlineExecutor:
    """Stands in for an aiortc audio sender's loop, which it asks only ``run_in_executor``.

    The sender encodes each frame with ``run_in_executor(None, encode, ...)``;
    this runs ``encode`` at once, on the loop, and returns a future already
    done, so no frame waits for a worker thread or wakes the loop from one.
    """

    __slots__ = ("_loop",)

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def run_in_executor(self, _executor: Any, func: Callable[..., Any], *args: Any) -> Any:
        done = self._loop.create_future()
        try:
            done.set_result(func(*args))
        except Exception as exc:  # handed to the sender, as the executor would
            done.set_exception(exc)
        return done


class _InlineDecoder:
    """Stands in for an aiortc audio receiver's decoder queue: ``put`` decodes at once.

    aiortc puts each encoded frame on a queue a decoder thread reads, and the
    thread hands each decoded frame back to the loop. This decodes in ``put``
    (on the loop, where the receiver calls it) with the same decoder, and hands
    the frames on (``deliver``: the track's queue) in the same order;
    ``put(None)`` ends the track, as the thread would.
    """

    __slots__ = ("_codec", "_decoder", "_deliver")

    def __init__(self, deliver: Callable[[Any], None]) -> None:
        self._deliver = deliver
        self._codec: str | None = None
        self._decoder: Any = None

    def put(self, task: tuple[Any, Any] | None) -> None:
        if task is None:
            self._decoder = None
            self._deliver(None)
            return
        codec, encoded = task
        if codec.name != self._codec:
            from aiortc.codecs import get_decoder

            self._decoder, self._codec = get_decoder(codec), codec.name
        for frame in self._decoder.decode(encoded):
            self._deliver(frame)


def encode_and_decode_audio_on_the_loop() -> None:
    """Make every aiortc audio sender and receiver in the process work on its event loop.

    Senders encode each frame inline instead of in the default executor;
    receivers decode inline instead of in a thread per track (which then
    starts and ends at once). Video keeps aiortc's threads. The frames and
    packets are the same; only the thread doing the work changes. Relies on
    ``RTCRtpSender.__init__`` keeping its loop as ``_RTCRtpSender__loop`` for
    ``run_in_executor`` alone, on ``RTCRtpReceiver.receive`` starting
    ``rtcrtpreceiver.decoder_worker`` on ``_RTCRtpReceiver__decoder_queue``, and on
    the kind and started flags of both (``tests/runtime/test_compat.py`` checks
    each). Idempotent; call it before peer connections are made.
    """
    from aiortc import rtcrtpreceiver, rtcrtpsender

    sender_class: Any = rtcrtpsender.RTCRtpSender
    receiver_class: Any = rtcrtpreceiver.RTCRtpReceiver
    if getattr(sender_class, "_edge_actors_inline", False):
        return
    make_sender, receive, decoder_worker = (
        sender_class.__init__,
        receiver_class.receive,
        rtcrtpreceiver.decoder_worker,
    )

    def init_sender(self: Any, *args: Any, **kwargs: Any) -> None:
        make_sender(self, *args, **kwargs)
        if self._RTCRtpSender__kind == "audio":
            self._RTCRtpSender__loop = _InlineExecutor(self._RTCRtpSender__loop)

    async def start_receiving(self: Any, parameters: Any) -> None:
        queue = self._RTCRtpReceiver__decoder_queue
        audio = self._RTCRtpReceiver__kind == "audio"
        if audio and not self._RTCRtpReceiver__started and not isinstance(queue, DecodeGate):
            self._RTCRtpReceiver__decoder_queue = _InlineDecoder(self._track._queue.put_nowait)
        await receive(self, parameters)

    def work(loop: Any, input_q: Any, output_q: Any) -> None:
        if not isinstance(input_q, (_InlineDecoder, DecodeGate)):  # else put() decodes
            decoder_worker(loop, input_q, output_q)

    sender_class.__init__ = init_sender
    receiver_class.receive = start_receiving
    rtcrtpreceiver.decoder_worker = work
    sender_class._edge_actors_inline = True


_STOP_DECODING = object()  # ends a DecodeGate's video thread, not the track


class DecodeGate:
    """Decodes a receiver's frames only while someone reads them; ``put`` drops them else.

    It takes the place of an aiortc receiver's decoder queue (see
    ``gate_decoding``). Closed, an encoded frame is counted and dropped: no
    decoder runs and no thread waits. Open, audio is decoded in ``put`` on the
    loop; video in one thread of the gate's, started by ``open()`` and ended by
    ``close()`` (a video frame takes too long to decode on the loop), and
    ``open()`` asks the sender for a keyframe, so decoding starts from one.
    Decoded frames go to the receiver's track, as aiortc's would, unless
    ``deliver_to`` names another taker. ``received`` and ``decoded`` count
    encoded frames in and frames out. On the receiver's loop.
    """

    def __init__(self, receiver: Any) -> None:
        self._receiver = receiver
        self._track_queue: asyncio.Queue[Any] = receiver._track._queue
        self._deliver: Callable[[Any], None] = self._track_queue.put_nowait
        self._video = receiver._RTCRtpReceiver__kind == "video"
        self._decoder = _InlineDecoder(self._hand_on)
        self._inbox: Any = None  # the video thread's queue while open
        self._asking: set[asyncio.Task[None]] = set()  # keyframe requests on their way
        self.is_open = False
        self.received = 0
        """Encoded frames that arrived, decoded or not."""
        self.unread = 0
        """Encoded frames dropped undecoded: nobody read the track then."""
        self.decoded = 0
        """Frames handed on (audio: at once; video: as its thread decodes them)."""

    def deliver_to(self, take: Callable[[Any], None]) -> None:
        """Hand each decoded frame to ``take`` from now on, and ``None`` when the track ends.

        In place of the receiver's track, whose queue then stays empty: the
        taker is called on the loop, once per frame, and must not block.
        """
        self._deliver = take

    def put(self, task: tuple[Any, Any] | None) -> None:
        if task is None:  # the receiver stops: end the track, as aiortc's thread would
            self.close()
            self._deliver(None)
            return
        self.received += 1
        if not self.is_open:
            self.unread += 1
            return
        if self._inbox is not None:
            self._inbox.put(task)
            return
        self._decoder.put(task)

    def open(self) -> None:
        """Decode from now on (for video: in a thread, from a keyframe asked for now)."""
        if self.is_open:
            return
        self.is_open = True
        if self._video:
            import queue
            import threading

            self._inbox = queue.SimpleQueue()
            loop = asyncio.get_running_loop()
            threading.Thread(
                target=self._decode_video,
                args=(self._inbox, loop),
                name="video-decoder",
                daemon=True,
            ).start()
            # Every source the track ever had (aiortc lists only those of the last 10 s):
            # a paused sender has sent nothing for a while and needs it most.
            for ssrc in list(self._receiver._RTCRtpReceiver__remote_streams):
                asking = loop.create_task(self._receiver._send_rtcp_pli(ssrc))
                self._asking.add(asking)
                asking.add_done_callback(self._asked)

    @property
    def backlog(self) -> int:
        """Frames waiting for the video thread, and decoded ones left on the receiver's track.

        The second stays 0 with a taker (``deliver_to``). Any thread.
        """
        waiting = self._inbox.qsize() if self._inbox is not None else 0
        return self._track_queue.qsize() + waiting

    @property
    def packets_lost(self) -> int:
        """The packets the receiver's RTP statistics count as lost, over its sources."""
        streams = self._receiver._RTCRtpReceiver__remote_streams
        return sum(stream.packets_lost for stream in list(streams.values()))

    def _asked(self, asking: asyncio.Task[None]) -> None:
        self._asking.discard(asking)
        if not asking.cancelled() and asking.exception() is not None:  # the transport closed
            logging.getLogger(__name__).debug("keyframe request failed: %r", asking.exception())

    def close(self) -> None:
        """Stop decoding: frames are dropped again and the video thread ends."""
        self.is_open = False
        inbox, self._inbox = self._inbox, None
        if inbox is not None:
            inbox.put(_STOP_DECODING)

    def _decode_video(self, inbox: Any, loop: asyncio.AbstractEventLoop) -> None:
        from aiortc.codecs import get_decoder

        decoder: Any = None
        codec_name = None
        while (task := inbox.get()) is not _STOP_DECODING:
            codec, encoded = task
            if codec.name != codec_name:
                decoder, codec_name = get_decoder(codec), codec.name
            for frame in decoder.decode(encoded):
                loop.call_soon_threadsafe(self._hand_on, frame)

    def _hand_on(self, frame: Any) -> None:
        self.decoded += 1
        self._deliver(frame)


def gate_decoding(receiver: Any) -> DecodeGate | None:
    """Put a closed ``DecodeGate`` in place of ``receiver``'s decoder; ``None`` if too late.

    Returns the gate put there earlier, if any (so it is safe to call twice).
    Call it before the receiver starts receiving (before the peer connection
    connects that transceiver): aiortc then starts no decoder for it.
    ``encode_and_decode_audio_on_the_loop()`` must have run (it makes aiortc's
    decoder thread end at once for a gate). On the receiver's loop.
    """
    gate = receiver._RTCRtpReceiver__decoder_queue
    if isinstance(gate, DecodeGate):
        return gate  # gated already
    if receiver._RTCRtpReceiver__started:
        return None
    gate = DecodeGate(receiver)
    receiver._RTCRtpReceiver__decoder_queue = gate
    return gate
