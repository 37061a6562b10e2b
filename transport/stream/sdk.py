"""The getstream SDK's ``ConnectionManager`` as ``StreamEdge`` runs it (getstream 4.x).

Three things differ from ``rtc.join(call, user_id)`` followed by ``async with``,
each for a reason the emulator showed:

- it subscribes to the track types it is given (the SDK's default subscribes
  to none, so the SFU would send the agent no media at all);
- its coordinator event websocket goes to the client's own ``base_url`` (the
  SDK always opens ``wss://video.stream-io-api.com``, whatever the client's
  URL); with Stream's own URL nothing changes;
- ``open()`` connects without the SDK's network monitor, which pings public
  DNS servers from executor threads every second per connection and, when it
  thinks the network is back, forces a full rejoin; the SFU websocket's own
  loss detection already drives the SDK's reconnects.

The SDK's websocket client ``close()`` waits: for the server's reply to its
close frame (up to 3 s) and for its socket and health-check threads (up to
2 s each; the latter sleeps 10 s between checks), and the SDK calls it on the
event loop (a refused join, a reconnect, a migration), where every call would
stop meanwhile. Importing this module makes that ``close()`` hand the waiting
to a thread when it is called on a loop (``_close_without_waiting``);
``close()`` here closes the client in a worker thread before ``leave()``.
Runs on the edge's loop.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import warnings
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from getstream.video.rtc.connection_manager import ConnectionManager
from getstream.video.rtc.connection_utils import watch_call
from getstream.video.rtc.coordinator.ws import StreamAPIWS
from getstream.video.rtc.reconnection import ReconnectionStrategy
from getstream.video.rtc.tracks import SubscriptionConfig, TrackSubscriptionConfig

__all__ = [
    "DISCONNECT",
    "MIGRATE",
    "REJOIN",
    "EdgeConnectionManager",
    "coordinator_ws_uri",
    "reconnect_strategy",
    "release_threads",
]

DISCONNECT: str = ReconnectionStrategy.DISCONNECT
"""The SFU's strategy that says: leave, do not come back (the SDK would only leave)."""
MIGRATE: str = ReconnectionStrategy.MIGRATE
"""The SDK's strategy that moves a connection to the SFU the coordinator names now."""
REJOIN: str = ReconnectionStrategy.REJOIN
"""The SDK's strategy that joins again through the coordinator, with new peer connections."""

# The SDK's watch_call decodes the watch endpoint's reply (a call, no SFU
# credentials) as a JoinCallResponse and discards it; dataclasses_json warns of
# the missing fields on every join, with Stream's service as with the emulator.
warnings.filterwarnings(
    "ignore",
    message=r"Missing value of non-optional type \w+ detected when decoding JoinCallResponse",
    category=RuntimeWarning,
)


def _close_without_waiting() -> None:
    """Make the SDK's SFU websocket client's ``close()`` never block the loop or strand a connect.

    On a thread running an event loop, ``close()`` hands the waiting part
    (sending the close frame and reading the server's reply, up to 3 s) to a
    thread of its own and does not join the client's socket and health-check
    threads, which end by themselves once it is closed (the latter at its next
    wake-up): the SDK closes clients on the loop when a join is refused and
    when it reconnects or migrates, and every call on the loop would stop
    meanwhile. Elsewhere (a worker thread) it waits as the SDK's does.

    It also wakes a ``connect()`` still waiting: ``WebSocketClient.connect()``
    waits for the SFU's first message in a thread of the default executor
    (``first_message_event.wait()``, no timeout); when the join is cancelled
    (the agent's connection closed while it joined), the SDK closes the client
    but never sets the event, so that thread would wait forever and the loop's
    executor could not shut down. The class is the SDK's, so this holds for
    every client in the process; idempotent.
    """
    from getstream.video.rtc.signaling import WebSocketClient

    close = WebSocketClient.close
    if close.__name__ == "close_without_waiting":
        return

    def close_without_waiting(self: Any) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # not on a loop: waiting is fine here
            close(self)
        else:
            socket, self.ws = (None, None) if self.closed else (self.ws, None)
            release_threads(self)
            close(self)  # marks it closed and drops its listeners; nothing left to wait for
            if socket is not None:
                threading.Thread(target=socket.close, name="sfu-ws-close", daemon=True).start()
        self.first_message_event.set()

    WebSocketClient.close = close_without_waiting


_STRATEGIES = {
    1: ReconnectionStrategy.DISCONNECT,  # WEBSOCKET_RECONNECT_STRATEGY_DISCONNECT
    2: ReconnectionStrategy.FAST,  # WEBSOCKET_RECONNECT_STRATEGY_FAST
    3: ReconnectionStrategy.REJOIN,
    4: ReconnectionStrategy.MIGRATE,
}


def reconnect_strategy(value: int) -> str | None:
    """The SDK's strategy for an SFU ``WebsocketReconnectStrategy`` (``None``: unspecified)."""
    return _STRATEGIES.get(value)


def release_threads(ws_client: Any) -> None:
    """Make the SDK's ``close()`` of ``ws_client`` not wait for its threads to end.

    Its health-check thread and its socket thread end by themselves once the
    client is closed (the first at its next wake-up, up to 10 s later).
    """
    if ws_client is not None:
        ws_client.ping_thread = None
        ws_client.thread = None


_close_without_waiting()


def coordinator_ws_uri(base_url: str) -> str | None:
    """The coordinator's event websocket for an API at ``base_url`` (``None``: the SDK's own)."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if host == "stream-io-api.com" or host.endswith(".stream-io-api.com"):
        return None
    scheme = "wss" if parts.scheme == "https" else "ws"
    return f"{scheme}://{parts.netloc}/api/v2/connect"


class EdgeConnectionManager(ConnectionManager):  # type: ignore[misc]
    """The SDK's connection to one call, subscribed to ``track_types``."""

    def __init__(self, call: Any, user_id: str, track_types: Iterable[int]) -> None:
        config = SubscriptionConfig(default=TrackSubscriptionConfig(track_types=list(track_types)))
        super().__init__(call=call, user_id=user_id, create=True, subscription_config=config)
        self._coordinator_uri = coordinator_ws_uri(str(call.client.base_url or ""))
        self._reconnecting: set[asyncio.Task[Any]] = set()

    async def open(self) -> None:
        """Join: the coordinator, then the SFU (the SDK's ``connect()``)."""
        await self.connect()

    async def close(self) -> None:
        """Leave the call and release everything, without holding the loop.

        Every reconnect under way ends first: those ``reconnect_soon`` began
        and the SDK's own after a lost websocket.
        """
        reconnecting = list(self._reconnecting)
        for task in reconnecting:
            task.cancel()
        await asyncio.gather(*reconnecting, return_exceptions=True)
        ws_client: Any = getattr(self, "ws_client", None)
        if ws_client is not None:  # the SDK would close it on the loop, waiting for the server
            release_threads(ws_client)
            self.ws_client = None
            await asyncio.to_thread(ws_client.close)
        await self.leave()

    def reconnect_soon(self, strategy: str, reason: str) -> None:
        """Start the SDK's reconnect with ``strategy`` in a task ``close()`` ends. On the loop."""
        reconnect = self.reconnector.reconnect(strategy, reason)
        self._keep(asyncio.get_running_loop().create_task(reconnect))

    async def _on_signaling_connection_lost(self, reason: str) -> None:
        """The SDK's reconnect after a lost SFU websocket, in a task ``close()`` ends.

        The SDK runs it in a task of its event emitter and never ends that
        task: a reconnect still under way when the connection closes would go
        on retrying for up to 30 s, or wait for a join that never comes, after
        the connection has gone. On the loop.
        """
        task = asyncio.current_task()
        assert task is not None  # the emitter runs it as a task of its own
        self._keep(task)
        await super()._on_signaling_connection_lost(reason)

    def _keep(self, task: asyncio.Task[Any]) -> None:
        """Hold ``task`` (a reconnect) until it ends, for ``close()`` to end it first."""
        self._reconnecting.add(task)
        task.add_done_callback(self._reconnecting.discard)

    async def _connect_coordinator_ws(self) -> None:
        if self._coordinator_uri is None:
            await super()._connect_coordinator_ws()
            return
        stream = self.call.client.stream
        self._coordinator_ws_client = StreamAPIWS(
            call=self.call,
            user_details={"id": self.user_id},
            uri=self._coordinator_uri,
            user_token=None if stream.has_api_secret else stream.token,
        )
        self._coordinator_ws_client.on("custom", functools.partial(self.emit, "custom"))
        await self._coordinator_ws_client.connect()
        connection_id = self._coordinator_ws_client._client_id  # noqa: SLF001 (the SDK's own)
        await watch_call(self.call, self.user_id, connection_id)
