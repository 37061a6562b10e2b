"""The pykka and asyncio internals edge-actors relies on, and where each is used.

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
