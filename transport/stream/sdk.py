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

The SDK's websocket client ``close()`` runs on the event loop and waits there:
for the server's reply to its close frame (up to 3 s) and for its socket and
health-check threads (up to 2 s each; the latter sleeps 10 s between checks). Every call on the loop
would stop meanwhile. ``close()`` closes that client in a worker thread before
``leave()``; ``release_threads`` lets a client the SDK is about to close skip
joining its threads, which end by themselves once it is closed (the
health-check thread at its next wake-up): the edge calls it when the SDK
starts reconnecting or migrating. Runs on the edge's loop.
"""

from __future__ import annotations

import asyncio
import functools
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


def _wake_connect_on_close() -> None:
    """Make the SDK's SFU websocket client wake a ``connect()`` still waiting when it closes.

    ``WebSocketClient.connect()`` waits for the SFU's first message in a thread
    of the default executor (``first_message_event.wait()``, no timeout). When
    the join is cancelled (the agent's connection closed while it joined), the
    SDK closes the client but never sets the event, so that thread waits
    forever and the loop's executor cannot shut down. Closing now sets it; a
    connect still waiting then ends (its caller is gone already). The class is
    the SDK's, so this holds for every client in the process; idempotent.
    """
    from getstream.video.rtc.signaling import WebSocketClient

    close = WebSocketClient.close
    if close.__name__ == "close_and_wake":
        return

    def close_and_wake(self: Any) -> None:
        close(self)
        self.first_message_event.set()

    WebSocketClient.close = close_and_wake


_wake_connect_on_close()

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

    async def open(self) -> None:
        """Join: the coordinator, then the SFU (the SDK's ``connect()``)."""
        await self.connect()

    async def close(self) -> None:
        """Leave the call and release everything, without holding the loop."""
        ws_client: Any = getattr(self, "ws_client", None)
        if ws_client is not None:  # the SDK would close it on the loop, waiting for the server
            release_threads(ws_client)
            self.ws_client = None
            await asyncio.to_thread(ws_client.close)
        await self.leave()

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
