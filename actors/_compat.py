"""The pykka and asyncio internals edge-actors relies on, all in this one module.

``AsyncioActor`` plugs into pykka through the extension points pykka offers to
new actor types, and a few of pykka's private names come with them. They are
named here once, each with what it is for; ``tests/runtime/test_compat.py``
checks every one against the installed pykka and fails loudly, naming it, if a
pykka release changes one. Checked against pykka 4.5 (setup.cfg allows
``>=4.5,<5``) and CPython 3.11.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any

from pykka import messages as _pykka_messages
from pykka._envelope import Envelope
from pykka._future import _Unset

__all__ = [
    "ActorStop",
    "Envelope",
    "OptExcInfo",
    "UNSET_HOOK_RESULT",
    "running_loop",
]

OptExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]
"""What ``sys.exc_info()`` returns; pykka's futures take it (``pykka._types.OptExcInfo``)."""

Envelope = Envelope
"""pykka's mailbox item: ``message`` and ``reply_to``; ``ask`` and ``stop`` put one in an inbox."""

ActorStop: type[Any] = _pykka_messages._ActorStop  # noqa: SLF001  # what this module is for
"""The message ``ActorRef.stop()`` sends; an actor type must stop when it takes it."""

UNSET_HOOK_RESULT: Any = _Unset()
"""pykka's marker for "no get-hook result yet" in ``Future._get_hook_result`` (one, shared)."""

running_loop: Callable[[], asyncio.AbstractEventLoop | None] = asyncio._get_running_loop  # noqa: SLF001  # what this module is for
"""The running loop of this thread, or ``None``; the cheap form for hot paths."""
