"""``StreamEdge``: the ``EdgeTransport`` on Stream's edge network (getstream SDK 4.x).

``authenticate`` upserts the agent's user, ``create_call`` gets or creates the
call, and ``join`` joins through the SDK's RTC ``ConnectionManager``
(``sdk.EdgeConnectionManager``); one edge holds any number of connections,
each with its own SDK connection. The SDK re-emits its SFU events on the
``ConnectionManager``; ``_Link`` turns them into mailbox messages through
``SfuPresence``, and connection state changes into ``SfuLinkStateEvent``s on
``edge.events``. Each time the SDK is joined over a new SFU websocket (the
first join, a reconnect, a migration), the participant list of that
websocket's ``JoinResponse`` is diffed against what the connection knows:
the SDK replaces its SFU without joined or left events, and its own
participant list only grows. The SDK does not act on ``GoAway`` or on an SFU
error's reconnect strategy; the link runs the SDK's migration or reconnect
for them (``FAST``, ``REJOIN``, ``MIGRATE``), closes the connection for
``DISCONNECT`` (reason ``sfu_disconnect: <the SFU's message>``) and ignores an
error with no strategy. Runs on one loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import msgspec

from messages import Close, EdgeEvent, Message, NotReadyError, TrackType, User, check_call_id
from transport._connection import Connection
from transport._edge import EdgeTransport
from transport.custom_events import check_custom_event
from transport.features import EdgeFeature
from transport.memory import MAX_CUSTOM_EVENT
from transport.stream.credentials import resolve_credentials
from transport.stream.errors import (
    StreamCredentialsError,
    StreamJoinError,
    StreamRequestError,
    api_refusal,
)
from transport.stream.participant import StreamParticipant
from transport.stream.sfu_events import SfuPresence

__all__ = ["SfuLinkStateEvent", "StreamCall", "StreamEdge"]

logger = logging.getLogger(__name__)

ALL_TRACK_TYPES = (
    TrackType.AUDIO,
    TrackType.VIDEO,
    TrackType.SCREEN_SHARE,
    TrackType.SCREEN_SHARE_AUDIO,
)


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


class _Link:
    """One connection's SDK connection and the handlers that feed its actor."""

    def __init__(self, edge: StreamEdge, connection: Connection, manager: Any) -> None:
        self.edge = edge
        self.connection = connection
        self.manager = manager
        self.presence = SfuPresence(connection.call.id, connection.agent_user.id)
        self._roster_of: Any = None  # the SFU websocket whose roster the actor was last told
        self._lost_ws: Any = None  # the SFU websocket the SDK was on when it began reconnecting
        self._handlers: list[tuple[str, Callable[..., None]]] = [
            ("participant_joined", self._joined),
            ("participant_left", self._left),
            ("track_published", self._published),
            ("track_unpublished", self._unpublished),
            ("call_ended", self._call_ended),
            ("go_away", self._go_away),
            ("error", self._error),
            ("connection.state_changed", self._state_changed),
        ]

    def attach(self) -> None:
        for name, handler in self._handlers:
            self.manager.on(name, handler)

    def detach(self) -> None:
        for name, handler in self._handlers:
            with contextlib.suppress(Exception):
                self.manager.remove_listener(name, handler)

    def _send(self, messages: list[Message]) -> None:
        for message in messages:
            with contextlib.suppress(Exception):
                self.connection.actor_ref.tell(message)

    def sync_roster(self) -> None:
        """Tell the actor the roster of the SFU websocket the SDK now uses, once per websocket."""
        ws_client = self.manager.ws_client
        first = getattr(ws_client, "first_message", None)
        if ws_client is None or ws_client is self._roster_of or first is None:
            return
        if not first.HasField("join_response"):
            return
        self._roster_of = ws_client
        roster = first.join_response.call_state.participants
        self._send(self.presence.snapshot(roster, self.connection.presence))

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

    def _go_away(self, event: Any) -> None:
        from transport.stream.sdk import MIGRATE

        self._reconnect(MIGRATE, "go_away")

    def _error(self, event: Any) -> None:
        from transport.stream.sdk import DISCONNECT, reconnect_strategy

        message = event.error.message
        strategy = reconnect_strategy(int(event.reconnect_strategy))
        if strategy is None:  # an error about one request (a bad frame): nothing to redo
            logger.debug("%s: the SFU reported an error: %s", self.connection.key, message)
        elif strategy == DISCONNECT:  # the SDK would leave and tell nobody: close instead
            self._send([Close(self.connection.call.id, f"sfu_disconnect: {message}")])
        else:
            self._reconnect(strategy, f"sfu error: {message}")

    def _reconnect(self, strategy: str, reason: str) -> None:
        self.manager.reconnect_soon(strategy, reason)  # ended by the manager's close()

    def _state_changed(self, change: Any) -> None:
        old, new = (_state_name(change.get("old")), _state_name(change.get("new")))
        self.edge.events.send(SfuLinkStateEvent(self.connection.call, old, new))
        ws_client = self.manager.ws_client
        if new in ("reconnecting", "migrating"):
            self._lost_ws = ws_client  # the SDK closes it after moving on, without waiting
        elif new == "joined" and old == "reconnecting" and ws_client is self._lost_ws:
            # The SDK's fast reconnect saw its lost websocket still marked running
            # (its socket thread had not caught up) and only restarted ICE.
            from transport.stream.sdk import REJOIN

            self._reconnect(REJOIN, "the fast reconnect kept the lost websocket")
        elif new == "joined":
            self.sync_roster()


def _who(event: Any) -> Any:
    """The SFU participant of a track event (older events carry only ids)."""
    participant = getattr(event, "participant", None)
    if participant is not None and participant.session_id:
        return participant
    return _Ids(user_id=event.user_id, session_id=event.session_id)


class _Ids(msgspec.Struct, frozen=True):
    user_id: str
    session_id: str
    published_tracks: tuple[int, ...] = ()


def _state_name(state: Any) -> str:
    return str(getattr(state, "value", state))


def _refused(exc: BaseException, doing: str) -> Exception:
    """Our error for an SDK failure while ``doing`` something."""
    refusal = api_refusal(exc)
    if refusal is not None and refusal[0] in (401, 403):
        status, reason = refusal
        msg = (
            f"Stream refused the credentials while {doing} ({status}): {reason}. "
            "Check STREAM_API_KEY and STREAM_API_SECRET (and the base URL)."
        )
        return StreamCredentialsError(msg)
    if refusal is not None:
        return StreamRequestError(f"Stream refused {doing} ({refusal[0]}): {refusal[1]}")
    return StreamRequestError(f"{doing} failed: {exc!r}")


async def _leave(manager: Any, connection: Connection) -> None:
    """Leave the SDK's call for ``connection``; a failure is logged, never raised."""
    try:
        await manager.close()
    except Exception:
        logger.exception("leaving %s did not finish cleanly", connection.key)


class StreamEdge(EdgeTransport):
    """Stream's edge network as an ``EdgeTransport`` (extra ``stream``).

    Credentials come from ``api_key``/``api_secret`` or ``STREAM_API_KEY`` /
    ``STREAM_API_SECRET``; ``base_url`` points the SDK at another API (a
    ``transport.stream.emulator.StreamEmulator``); ``client`` may be an
    ``getstream.AsyncStream`` you already have. ``track_types`` are the kinds
    of tracks the agent receives media of (presence covers every kind).

    ``ConnectionOptions.duplicate_sessions`` applies to presence and events
    only: Stream's API removes a user from a call, not one of its sessions,
    so the session a policy turns away stays connected (``on_evict`` is not
    overridden; kicking the user would remove the session kept too).
    """

    features = frozenset(
        (
            EdgeFeature.PEOPLE,
            EdgeFeature.PUBLISH,
            EdgeFeature.CUSTOM_EVENTS,
            EdgeFeature.SDK_CALL,
        )
    )

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        base_url: str | None = None,
        client: Any = None,
        track_types: Iterable[TrackType] = ALL_TRACK_TYPES,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self._client = client
        self._owns_client = client is None  # one it makes, it closes
        self._api_key, self._api_secret, self._base_url = api_key, api_secret, base_url
        self._track_types = tuple(int(kind) for kind in track_types)
        self._links: dict[str, _Link] = {}
        self._people: weakref.WeakSet[StreamParticipant] = weakref.WeakSet()
        self.agent_user: User | None = None

    @property
    def client(self) -> Any:
        """The SDK's ``AsyncStream`` client, made on first use (``StreamCredentialsError``
        if the credentials are missing)."""
        if self._client is None:
            from getstream import AsyncStream

            credentials = resolve_credentials(self._api_key, self._api_secret)
            extra = {} if self._base_url is None else {"base_url": self._base_url}
            try:
                self._client = AsyncStream(
                    api_key=credentials.api_key, api_secret=credentials.api_secret, **extra
                )
            except ValueError as exc:
                raise StreamCredentialsError(f"Stream refused the credentials: {exc}") from None
        return self._client

    async def authenticate(self, user: User) -> None:
        """Create or update the agent's user; a refused key raises ``StreamCredentialsError``."""
        from getstream.models import UserRequest

        request = UserRequest(
            id=user.id, name=user.name or None, image=user.image, custom=user.custom
        )
        client = self.client
        try:
            await client.upsert_users(request)
        except Exception as exc:
            raise _refused(exc, "authenticating the agent's user") from None
        self.agent_user = user

    async def create_call(
        self, call_id: str, call_type: str = "default", **kwargs: Any
    ) -> StreamCall:
        """Get or create the call; ``kwargs`` go to the SDK's ``get_or_create``."""
        from getstream.models import CallRequest

        check_call_id(call_id)
        sdk_call = self.client.video.call(call_type, call_id)
        created_by = self.agent_user.id if self.agent_user else None
        try:
            await sdk_call.get_or_create(data=CallRequest(created_by_id=created_by), **kwargs)
        except Exception as exc:
            raise _refused(exc, f"creating call {call_type}:{call_id}") from None
        return StreamCall(call_id, call_type, sdk_call)

    async def on_join(self, connection: Connection, **kwargs: Any) -> None:
        from transport.stream.sdk import EdgeConnectionManager

        manager = EdgeConnectionManager(
            self.sdk_call(connection), connection.agent_user.id, self._track_types
        )
        link = _Link(self, connection, manager)
        link.attach()
        try:
            await manager.open()
        except BaseException as exc:
            link.detach()
            with contextlib.suppress(Exception):
                await manager.close()
            if not isinstance(exc, Exception):
                raise
            error = _refused(exc, f"joining call {connection.call.id}")
            if isinstance(error, StreamCredentialsError):
                raise error from None
            msg = f"could not join call {connection.call.id} through Stream: {exc}"
            raise StreamJoinError(msg) from exc
        if connection.closed:  # closed while the SDK joined: on_release found no link to close
            link.detach()
            await _leave(manager, connection)
            return
        self._links[connection.key] = link
        link.sync_roster()
        await connection.caught_up()

    async def on_release(self, connection: Connection) -> None:
        link = self._links.pop(connection.key, None)
        if link is None:
            return
        link.detach()
        await _leave(link.manager, connection)

    async def on_shutdown(self) -> None:
        people = list(self._people)
        for result in await asyncio.gather(*(p.leave() for p in people), return_exceptions=True):
            if isinstance(result, Exception):
                logger.warning("a participant of this edge did not leave cleanly: %r", result)
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            try:
                await client.aclose()
            except Exception:
                logger.exception("closing the SDK's HTTP client did not finish cleanly")

    def participant(
        self, call_id: str, user_id: str, call_type: str = "default"
    ) -> StreamParticipant:
        """A person for ``call_id``: a getstream SDK client on this edge's client; ``join()`` it.

        A ``transport.stream.StreamParticipant`` (as ``LocalEdge.participant()``
        makes a ``LocalParticipant``): it publishes synthetic audio and video.
        The edge's client signs its token, so it needs the app's secret. It
        leaves when the edge closes, if it has not left before.
        """
        person = StreamParticipant(self.client, call_id, user_id, call_type)
        self._people.add(person)
        return person

    def manager(self, connection: Connection) -> Any:
        """The SDK ``ConnectionManager`` behind ``connection`` (for media: tracks, audio)."""
        return self._links[connection.key].manager

    def sdk_call(self, connection: Connection) -> Any:
        """The getstream SDK's ``Call`` that ``connection`` joined."""
        return getattr(connection.call, "sdk_call", connection.call)

    async def publish_tracks(
        self, connection: Connection, *, audio: Any = None, video: Any = None
    ) -> tuple[str, ...]:
        """Publish the agent's tracks through the SDK, which takes them back when it leaves.

        Returns no ids: there is nothing for ``unpublish_tracks`` to do.
        """
        await self.manager(connection).add_tracks(audio=audio, video=video)
        return ()

    async def unpublish_tracks(self, connection: Connection, track_ids: Iterable[str]) -> None:
        """Nothing to do: the SDK unpublishes the agent's tracks as the connection leaves."""

    async def send_custom_event(self, call_id: str, data: dict[str, Any]) -> None:
        """Send ``data`` as a custom call event through one of this edge's connections to the call.

        Stream's servers fan it out, so how many received it is not known
        (``None``). ``CustomEventError`` if it is not a JSON object of at most
        ``MAX_CUSTOM_EVENT`` bytes; ``NotReadyError`` if no connection of this
        edge is in the call.
        """
        check_custom_event(data, MAX_CUSTOM_EVENT)
        connections = self.connections(call_id)
        if not connections:
            msg = f"no connection of this edge is in call {call_id}: join it first"
            raise NotReadyError(msg)
        sender = connections[0]
        await self.sdk_call(sender).send_call_event(user_id=sender.agent_user.id, custom=data)
