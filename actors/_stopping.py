"""How an ``AsyncioActor`` stops: ``on_stop``, its mailbox refused, its counters kept.

A mixin of ``AsyncioActor`` (the methods need its fields), apart so that each
module stays one concept: the actor's turns and failures in ``_actor``, its
end here. Everything runs on the actor's loop.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine
from types import CoroutineType
from typing import Any, ClassVar

import pykka

from actors._compat import Envelope
from actors._directory import directory
from actors._future import AskFuture
from actors._mailbox import AsyncioActorRef, BoundedActorRef, Retry, refuse
from actors._supervision import RestartBudget

__all__ = ["WRAPPERS", "Stopping", "retired"]

logger = logging.getLogger("actors._actor")  # one logger for the actor's whole life

WRAPPERS = frozenset((Envelope, Retry))  # items whose .message is the tell


class _Retired:
    """Counters of actors that have stopped, so totals survive their actors."""

    __slots__ = ("handled", "refused", "restarts")

    def __init__(self) -> None:
        self.handled = 0
        self.refused = 0
        self.restarts = 0


retired = _Retired()


class Stopping:
    """The stopping half of ``AsyncioActor``; see that class."""

    # No __slots__ of its own: pykka.Actor has none, so the instance has a dict
    # either way, and AsyncioActor's slots hold these fields.

    _mailbox: AsyncioActorRef
    _busy: asyncio.Task[None] | None
    _restarts: RestartBudget | None
    register_with_pykka: ClassVar[bool]
    actor_ref: Any

    @property
    def restart_count(self) -> int:
        """How many times this actor has restarted (read on its loop)."""
        return 0 if self._restarts is None else self._restarts.total

    def on_stop(self) -> Any:
        """See ``AsyncioActor.on_stop``."""

    def on_dropped(self, message: Any) -> None:
        """See ``AsyncioActor.on_dropped``."""

    def _stop_now(self) -> None:
        """Stop at once, skipping queued mail: this actor's loop is about to end.

        Runs ``on_stop`` unless the actor already stopped (an ``async`` one is
        closed unrun: nothing would drive it), cancels a handler in progress and
        answers every queued ask with ``ActorDeadError``.
        """
        if self._busy is not None:
            self._busy.cancel()  # its ask is answered if the loop ever runs again
        if not self._mailbox._stopped:
            self._finish_stop()
            try:
                on_stop: Callable[[], Any] = self.on_stop
                result = on_stop()
            except Exception:
                self._handle_failure(*sys.exc_info())
            else:
                if type(result) is CoroutineType:
                    result.close()
                    logger.warning("%s: async on_stop not run, the event loop is ending", self)
        self._teardown()

    def _begin_stop(self, reply_to: pykka.Future[Any] | None) -> None:
        self._finish_stop()
        try:
            on_stop: Callable[[], Any] = self.on_stop  # may be `async def`
            result = on_stop()
        except Exception:
            self._handle_failure(*sys.exc_info())
            result = None
        if type(result) is CoroutineType:
            self._busy = asyncio.get_running_loop().create_task(
                self._finish_on_stop(reply_to, result)
            )
            return
        if reply_to is not None:
            reply_to.set(None)
        self._teardown()

    async def _finish_on_stop(
        self, reply_to: pykka.Future[Any] | None, coroutine: Coroutine[Any, Any, Any]
    ) -> None:
        try:
            await coroutine
        except Exception:
            self._handle_failure(*sys.exc_info())
        finally:
            self._busy = None
            if reply_to is not None:
                reply_to.set(None)
            self._teardown()

    def _finish_stop(self) -> None:
        self._unregister()
        self._mailbox._mark_stopped()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("Stopped %s", self)

    def _unregister(self) -> None:
        directory.unregister(self)  # type: ignore[arg-type]  # an AsyncioActor
        if self.register_with_pykka:
            pykka.ActorRegistry.unregister(self.actor_ref)

    def _stop(self) -> None:
        # pykka's path (used only if someone calls it directly): stop now.
        self._finish_stop()
        try:
            self.on_stop()
        except Exception:
            self._handle_failure(*sys.exc_info())
        self._teardown()

    def _handle_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        logger.error(
            "Unhandled exception in %s:",
            self,
            exc_info=(exception_type, exception_value, traceback),
        )
        self._unregister()
        self._mailbox._mark_stopped()

    def _teardown(self) -> None:
        """Fail what is still queued with ``ActorDeadError`` and drop the mailbox."""
        mailbox = self._mailbox
        queue = mailbox._take_all()
        retired.handled += mailbox._dropped_handled
        retired.restarts += self.restart_count
        mailbox._dropped_handled = 0
        self._restarts = None
        if isinstance(mailbox, BoundedActorRef):
            retired.refused += mailbox.refused
            mailbox.refused = 0
            mailbox._wake_senders(all_of_them=True)  # to find the actor gone
        mailbox._actor = None  # later puts are refused; breaks the actor <-> mailbox cycle
        for item in queue:
            if type(item) is AskFuture or (type(item) is Envelope and item.reply_to is not None):
                refuse(item, f"{self.actor_ref} stopped before handling the message")
                continue
            try:
                self.on_dropped(item.message if type(item) in WRAPPERS else item)
            except Exception:
                logger.exception("%s.on_dropped failed", self)
