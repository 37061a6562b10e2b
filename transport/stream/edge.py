"""``StreamEdge``: the ``EdgeTransport`` on Stream's edge network (getstream SDK 4.x).

``authenticate`` upserts the agent's user, ``create_call`` gets or creates the
call, and ``join`` joins through the SDK's RTC ``ConnectionManager``; one edge
holds any number of connections, each with its own SDK connection. The SDK's
SFU events (it re-emits them on the ``ConnectionManager``) become mailbox
messages through ``SfuPresence``; connection state changes become
``SfuLinkStateEvent`` on ``edge.events``; after a reconnect or a
migration the participant list is diffed against what the connection knew,
because the SDK replaces it without joined or left events. Runs on one loop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import msgspec

from messages import Close, EdgeEvent, Message, User, check_call_id
from transport._connection import Connection
from transport._edge import EdgeTransport
from transport.stream.credentials import StreamCredentialsError, resolve_credentials
from transport.stream.sfu import SfuPresence

__all__ = ["SfuLinkStateEvent", "StreamCall", "StreamEdge"]

logger = logging.getLogger(__name__)

Connect = Callable[[Any, str], Awaitable[Any]]
"""Makes and connects the SDK's ``ConnectionManager`` for (SDK call, agent user id)."""


class SfuLinkStateEvent(EdgeEvent, frozen=True):
    """The agent's own link to Stream changed state (``reconnecting``, ``migrating``, ...)."""

    call: Any
    old: str
    new: str
    type: ClassVar[str] = "plugin.edge.connection_state_changed"


class StreamCall(msgspec.Struct, frozen=True):
    """A Stream call: its id, type, and the SDK's call object."""

    id: str
    call_type: str
    sdk_call: Any


async def _sdk_connect(sdk_call: Any, user_id: str) -> Any:
    from getstream.video.rtc import join

    manager = await join(sdk_call, user_id)
    await manager.__aenter__()
    return manager


class _Link:
    """One connection's SDK connection and the handlers that feed its actor."""

    def __init__(self, edge: StreamEdge, connection: Connection, manager: Any) -> None:
        self.edge = edge
        self.connection = connection
        self.manager = manager
        self.presence = SfuPresence(connection.call.id, connection.agent_user.id)
        self._handlers: list[tuple[str, Callable[..., None]]] = [
            ("participant_joined", self._joined),
            ("participant_left", self._left),
            ("track_published", self._published),
            ("track_unpublished", self._unpublished),
            ("call_ended", self._call_ended),
            ("connection.state_changed", self._state_changed),
        ]

    def attach(self) -> None:
        for name, handler in self._handlers:
            self.manager.on(name, handler)
        state = getattr(self.manager, "participants_state", None)
        if state is not None:
            participants = state.get_participants()
            self._send(self.presence.snapshot(participants, self.connection.presence))

    def detach(self) -> None:
        for name, handler in self._handlers:
            with contextlib.suppress(Exception):
                self.manager.remove_listener(name, handler)

    def _send(self, messages: list[Message]) -> None:
        for message in messages:
            with contextlib.suppress(Exception):
                self.connection.actor_ref.tell(message)

    def _joined(self, event: Any) -> None:
        self._send(self.presence.joined(event.participant))

    def _left(self, event: Any) -> None:
        self._send(self.presence.left(event.participant))

    def _published(self, event: Any) -> None:
        self._send(self.presence.published(_who(event), int(event.type)))

    def _unpublished(self, event: Any) -> None:
        self._send(self.presence.unpublished(_who(event), int(event.type)))

    def _call_ended(self, event: Any) -> None:
        self._send([Close(self.connection.call.id, "call_ended")])

    def _state_changed(self, change: Any) -> None:
        old, new = (_state_name(change.get("old")), _state_name(change.get("new")))
        self.edge.events.send(SfuLinkStateEvent(self.connection.call, old, new))
        if new == "joined" and old in ("reconnecting", "migrating", "offline"):
            # The SDK rebuilt its participant list without joined/left events.
            participants = self.manager.participants_state.get_participants()
            self._send(self.presence.snapshot(participants, self.connection.presence))


def _who(event: Any) -> Any:
    """The SFU participant of a track event (older events carry only ids)."""
    participant = getattr(event, "participant", None)
    if participant is not None and participant.session_id:
        return participant
    return msgspec.structs.replace(
        _Ids(user_id=event.user_id, session_id=event.session_id), published_tracks=()
    )


class _Ids(msgspec.Struct, frozen=True):
    user_id: str
    session_id: str
    published_tracks: tuple[int, ...] = ()


def _state_name(state: Any) -> str:
    return str(getattr(state, "value", state))


class StreamEdge(EdgeTransport):
    """Stream's edge network as an ``EdgeTransport`` (extra ``stream``).

    Credentials come from ``api_key``/``api_secret`` or ``STREAM_API_KEY`` /
    ``STREAM_API_SECRET``; ``client`` may be an ``getstream.AsyncStream`` you
    already have. ``connect`` replaces the SDK join (tests use it to stand in
    for Stream's servers).
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        client: Any = None,
        connect: Connect | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._client = client
        self._api_key, self._api_secret = api_key, api_secret
        self._connect = connect if connect is not None else _sdk_connect
        self._links: dict[str, _Link] = {}
        self.agent_user: User | None = None

    @property
    def client(self) -> Any:
        """The SDK's ``AsyncStream`` client, made on first use (``StreamCredentialsError``
        if the credentials are missing)."""
        if self._client is None:
            from getstream import AsyncStream

            credentials = resolve_credentials(self._api_key, self._api_secret)
            try:
                self._client = AsyncStream(
                    api_key=credentials.api_key, api_secret=credentials.api_secret
                )
            except ValueError as exc:
                raise StreamCredentialsError(f"Stream refused the credentials: {exc}") from None
        return self._client

    async def authenticate(self, user: User) -> None:
        """Create or update the agent's user; a refused key raises ``StreamCredentialsError``."""
        from getstream.models import UserRequest

        try:
            await self.client.upsert_users(
                UserRequest(
                    id=user.id, name=user.name or None, image=user.image, custom=user.custom
                )
            )
        except StreamCredentialsError:
            raise
        except Exception as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None) or getattr(
                exc, "status_code", None
            )
            if status in (401, 403):
                msg = (
                    f"Stream refused the API key or secret ({status}); check STREAM_API_KEY/SECRET"
                )
                raise StreamCredentialsError(msg) from None
            raise
        self.agent_user = user

    async def create_call(
        self, call_id: str, call_type: str = "default", **kwargs: Any
    ) -> StreamCall:
        """Get or create the call; ``kwargs`` go to the SDK's ``get_or_create``."""
        check_call_id(call_id)
        sdk_call = self.client.video.call(call_type, call_id)
        from getstream.models import CallRequest

        created_by = self.agent_user.id if self.agent_user else None
        await sdk_call.get_or_create(data=CallRequest(created_by_id=created_by), **kwargs)
        return StreamCall(call_id, call_type, sdk_call)

    async def on_join(self, connection: Connection, **kwargs: Any) -> None:
        sdk_call = getattr(connection.call, "sdk_call", connection.call)
        manager = await self._connect(sdk_call, connection.agent_user.id)
        link = _Link(self, connection, manager)
        self._links[connection.key] = link
        link.attach()
        await connection.caught_up()

    async def on_release(self, connection: Connection) -> None:
        link = self._links.pop(connection.key, None)
        if link is None:
            return
        link.detach()
        leave = getattr(link.manager, "leave", None)
        if leave is not None:
            try:
                await leave()
            except Exception:
                logger.exception("leaving %s did not finish cleanly", connection.key)

    def manager(self, connection: Connection) -> Any:
        """The SDK ``ConnectionManager`` behind ``connection`` (for media: tracks, audio)."""
        return self._links[connection.key].manager
