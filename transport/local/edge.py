"""``LocalEdge``: real WebRTC calls on this machine, with no account and no cloud.

An aiohttp server (loopback by default) serves websocket signaling at
``/ws/{call_id}`` and a browser join page at ``/call/{call_id}?token=...``; each
participant gets one aiortc ``RTCPeerConnection`` on the edge. Joins need a join
token the edge signed (``edge.token(call_id, user_id)``). What participants do
becomes mailbox messages for every connection of the call. The agent reads
received media with ``add_track_subscriber(track_id)``. Participants are kept
up to date with who is in the call (``roster(call_id)``): each gets the newest
roster when its socket can take it, as a delta from the version it has or a
snapshot (``transport.local.roster``), never a queue of stale ones. Everything
runs on the loop that started the edge.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import math
import secrets
import time
import weakref
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
from aiohttp import WSMsgType, web

from messages import (
    NotReadyError,
    Participant,
    ParticipantKind,
    User,
    check_call_id,
)
from transport._connection import Connection
from transport._edge import EdgeTransport
from transport.features import EdgeFeature
from transport.local import media_path
from transport.local.custom import custom_frame
from transport.local.edge_media import LocalMedia
from transport.local.guard import HeadGuard
from transport.local.limits import LocalLimits
from transport.local.outbox import Flusher, SendCounts
from transport.local.participant import LocalParticipant
from transport.local.roster import CallRoster
from transport.local.session import PeerSession
from transport.local.signaling import (
    MAX_FRAME,
    SIGNALING_VERSION,
    VERSION_REFUSED,
    EncodedFrame,
    ErrorFrame,
    Join,
    Joined,
    Renegotiate,
    SignalingError,
    decode_client,
    encode,
    version_mismatch,
)
from transport.local.tokens import JoinTokens, TokenError

__all__ = ["LocalCall", "LocalEdge"]

logger = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
PAGE_FILES = frozenset({"call.html", "call.css", "call.js"})
"""The browser page's files in ``STATIC``: the only ones ``/static/{name}`` serves."""


class LocalCall(msgspec.Struct, frozen=True):
    """A call on a ``LocalEdge``; ``url`` is its browser join page (add ``?token=``)."""

    id: str
    url: str


class LocalEdge(LocalMedia, EdgeTransport):
    """The embedded edge: aiohttp signaling and aiortc media on this machine.

    ``async with LocalEdge() as edge:`` starts the server on ``host:port``
    (port 0 picks a free one; ``edge.url`` tells) and stops it, closing every
    connection and session. ``mount(app, url)`` serves from an aiohttp app the
    host already runs instead. ``secret`` signs join tokens (random if not given).
    ``limits`` caps what each peer may hold and how long it may take (see
    ``LocalLimits``).
    """

    features = frozenset(
        (
            EdgeFeature.PEOPLE,
            EdgeFeature.PUBLISH,
            EdgeFeature.SUBSCRIBE,
            EdgeFeature.CUSTOM_EVENTS,
            EdgeFeature.JOIN_URLS,
        )
    )

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        secret: bytes | None = None,
        limits: LocalLimits | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        media_path.install()  # process-wide: the same audio, less CPU (see media_path)
        self.limits = limits if limits is not None else LocalLimits()
        """Per-peer caps and deadlines; read by each new socket and session."""
        # Sockets connected and not joined yet, oldest first, with their transports.
        self._pending: dict[web.WebSocketResponse, asyncio.Transport | None] = {}
        self.turned_away = 0
        """Sockets closed unjoined to make room for newer ones (see ``LocalLimits.max_pending``)."""
        self.host = host
        self.port = port
        self.tokens = JoinTokens(secret)
        self.users: dict[str, User] = {}
        self._url: str | None = None
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self.guard: HeadGuard | None = None
        """Deadline and cap on connections that have sent no request yet (once started)."""
        self._sessions: dict[str, dict[str, PeerSession]] = {}
        self._rosters: dict[str, CallRoster] = {}
        self.sent = SendCounts()
        self._flusher = Flusher()
        """What the edge wrote to participants: frames, bytes, and how much of it was roster."""
        self.cuts: collections.Counter[str] = collections.Counter()
        """Participants dropped for breaking a limit, by the ``LocalLimits`` field that fired."""
        self._sockets: set[web.WebSocketResponse] = set()
        self.init_media()
        self._evictions: set[asyncio.Task[None]] = set()
        self._session_ids = itertools.count(1)

    # -- server --------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL, ``http://host:port``; set once started or mounted."""
        if self._url is None:
            msg = "the LocalEdge is not started: use `async with LocalEdge()` or mount()"
            raise NotReadyError(msg)
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        """Where a mounted edge is served, when it was not known at ``mount()`` time."""
        self._url = value.rstrip("/")

    def mount(self, app: web.Application, url: str | None = None) -> None:
        """Serve the edge's routes from ``app``, which the host runs at ``url``.

        Mount before the app starts (aiohttp freezes its routes then); if the
        address is known only later (port 0), set ``edge.url`` once it is.
        """
        app.add_routes(
            [
                web.get("/ws/{call_id}", self._websocket),
                web.get("/call/{call_id}", self._page),
                # Not web.static(): it resolves the folder on the caller's thread (the loop)
                # and serves whatever is in it; these are the page's files, by name.
                web.get("/static/{name}", self._static),
            ]
        )
        if url is not None:
            self._url = url.rstrip("/")

    async def on_start(self) -> None:
        """Serve on ``host:port``; ``start()`` (or ``async with``) calls it once.

        Runs on the loop that starts the edge. The server is kept on the edge
        as soon as it exists, and each step checks ``closing``: a ``close()``
        that began meanwhile finds it and closes it, so nothing is left listening.
        """
        app = web.Application()
        self.mount(app)
        _report_accept_errors_once(asyncio.get_running_loop())
        runner = web.AppRunner(app, handle_signals=False, access_log=None)  # URLs carry tokens
        self._runner = runner
        await runner.setup()
        if self.closing:
            return
        assert runner.server is not None
        # Our own listener, so a connection that sends no request head has a deadline too.
        self.guard = HeadGuard(runner.server, self.limits.join_timeout, self.limits.pending_cap)
        self._listener = await asyncio.get_running_loop().create_server(
            self.guard, self.host, self.port, reuse_address=True
        )
        if self.closing:
            return
        host, port = self._listener.sockets[0].getsockname()[:2]
        self._url = f"http://{host}:{port}"
        logger.info("local edge listening on %s", self._url)

    async def on_shutdown(self) -> None:
        for sessions in list(self._sessions.values()):
            for session in list(sessions.values()):
                await session.end("dropped")
                await session.close_socket()
        for socket in list(self._sockets):
            with contextlib.suppress(Exception):
                await socket.close()
        await self.release_media()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- the EdgeTransport contract -----------------------------------------------

    async def authenticate(self, user: User) -> None:
        """Remember the agent's user (the local edge has no accounts to check)."""
        self.users[user.id] = user

    async def create_call(self, call_id: str, **kwargs: Any) -> LocalCall:
        """A call; it exists as soon as someone joins it."""
        check_call_id(call_id)
        return LocalCall(call_id, f"{self.url}/call/{quote(call_id, safe='')}")

    def token(
        self,
        call_id: str,
        user_id: str,
        *,
        ttl: float = 120.0,
        kind: ParticipantKind = ParticipantKind.HUMAN,
    ) -> str:
        """A single-use join token for ``user_id`` in ``call_id``, valid for ``ttl`` seconds."""
        return self.tokens.issue(call_id, user_id, ttl=ttl, kind=kind)

    def join_url(self, call_id: str, user_id: str, *, ttl: float = 600.0) -> str:
        """The browser join page for ``user_id``, with a single-use token in it.

        The link admits one join within ``ttl`` seconds: reloading the page
        after joining needs a new link.
        """
        token = self.token(call_id, user_id, ttl=ttl)
        return f"{self.url}/call/{quote(call_id, safe='')}?token={quote(token, safe='')}"

    def participant(
        self, call_id: str, user_id: str, *, kind: ParticipantKind = ParticipantKind.HUMAN
    ) -> LocalParticipant:
        """A Python participant (aiortc) for ``call_id``, with a token; call ``join()``."""
        return LocalParticipant(self.url, call_id, self.token(call_id, user_id, kind=kind))

    async def send_custom_event(self, call_id: str, data: dict[str, Any]) -> int:
        """Send ``data`` (a JSON object) to every participant of ``call_id``; how many.

        Participants get it as a ``Custom`` frame (``LocalParticipant.custom_event()``;
        the browser page shows the last one). ``CustomEventError`` if ``data`` is
        not a JSON object of at most ``MAX_CUSTOM_EVENT`` bytes. Never waits for
        a peer: a participant that stops reading is dropped, as for any frame.
        """
        frame = EncodedFrame(custom_frame(data))
        sessions = self.sessions(call_id)
        for session in sessions:
            session.send(frame)
        return len(sessions)

    async def on_join(self, connection: Connection, **kwargs: Any) -> None:
        present = [
            (s.participant, [(t.track_id, t.track_type) for t in s.tracks.values()])
            for s in self.sessions(connection.call.id)
        ]
        await self.tell_present(connection, present)

    def on_evict(self, connection: Connection, participant: Participant, reason: str) -> None:
        session = self._sessions.get(connection.call.id, {}).get(participant.id)
        if session is not None:
            closing = asyncio.get_running_loop().create_task(session.close_socket())
            self._evictions.add(closing)  # keep it alive until it is done
            closing.add_done_callback(self._evictions.discard)

    # -- the PeerSessionHost interface: what sessions call ---------------------------------

    async def session_ended(self, session: PeerSession, reason: str) -> None:
        """``session`` is over (``reason``: left or dropped): forget it, tell the others."""
        call_id = session.call_id
        cut = session.outbox.cut_reason
        if cut is not None:
            self.cuts[cut] += 1
        sessions = self._sessions.get(call_id, {})
        sessions.pop(session.participant.id, None)
        if not sessions:
            self._sessions.pop(call_id, None)
        roster = self._rosters.get(call_id)
        if roster is None:
            return
        roster.forget(session.outbox)
        roster.leave(session.participant.id)
        if not roster.entries and not sessions:
            del self._rosters[call_id]
            return
        self._announce(call_id)

    def roster_changed(self, session: PeerSession) -> None:
        """``session``'s tracks changed: update its roster entry and tell the call.

        Never waits: each participant's outbox gets the newest roster when its
        socket takes it. On the edge's loop.
        """
        roster = self._rosters.get(session.call_id)
        if roster is None or session.participant.id not in roster.entries:
            return
        version = roster.version
        roster.update(session.entry())
        if roster.version != version:
            self._announce(session.call_id)

    def roster(self, call_id: str) -> CallRoster | None:
        """The roster participants of ``call_id`` are kept up to date with (read only)."""
        return self._rosters.get(call_id)

    def _announce(self, call_id: str) -> None:
        """The roster of ``call_id`` changed: every participant gets the newest, in turn."""
        roster = self._rosters.get(call_id)
        if roster is not None:
            roster.notify()

    # -- HTTP handlers ---------------------------------------------------------------

    async def _page(self, request: web.Request) -> web.StreamResponse:
        try:
            check_call_id(request.match_info["call_id"])
        except ValueError as exc:
            return web.Response(status=400, text=str(exc))
        return web.FileResponse(STATIC / "call.html")

    async def _static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in PAGE_FILES:
            raise web.HTTPNotFound
        return web.FileResponse(STATIC / name)  # it reads the file off the loop

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        call_id = request.match_info["call_id"]
        try:
            check_call_id(call_id)
        except ValueError as exc:
            return web.Response(status=400, text=str(exc))
        limits = self.limits
        socket = web.WebSocketResponse(heartbeat=limits.heartbeat, max_msg_size=16 * MAX_FRAME)
        if len(self._pending) >= limits.pending_cap():
            # Make room by cutting the socket that has waited longest without joining:
            # an honest client joins within milliseconds, so it is never the oldest.
            oldest, transport = next(iter(self._pending.items()))
            del self._pending[oldest]
            self.turned_away += 1
            if self.turned_away == 1 or self.turned_away % 1000 == 0:
                logger.info("signaling: %d unjoined sockets cut to make room", self.turned_away)
            if transport is not None:
                transport.abort()
        self._pending[socket] = request.transport
        session: PeerSession | None = None
        try:
            await socket.prepare(request)
            self._sockets.add(socket)
            try:
                async with asyncio.timeout(limits.join_timeout):
                    first = await socket.receive()
            except TimeoutError:
                await _refuse(socket, "no Join in time", False, limits=limits)
                await _close(socket, 4408, b"join in time", limits)
                return socket
            self._pending.pop(socket, None)
            if first.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                return socket
            text = first.type is WSMsgType.TEXT
            try:
                frame = decode_client(first.data)
            except SignalingError as exc:
                await _refuse(socket, f"refused frame: {exc}", text, limits=limits)
                await _close(socket, 4400, b"join first", limits)
                return socket
            session = await self._join(socket, call_id, frame, text, request.transport)
            if session is None:
                return socket
            async for message in socket:
                if message.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                try:
                    frame = decode_client(message.data)
                except SignalingError as exc:
                    logger.debug("signaling: %s sent a bad frame: %s", session, exc)
                    session.send(ErrorFrame(f"refused frame: {exc}"))
                    if session.cut:
                        break
                    continue
                try:
                    await session.handle(frame)
                except Exception as exc:  # a frame we could not act on: the peer hears why
                    logger.info("signaling: %s: %r failed: %r", session, frame, exc)
                    session.send(ErrorFrame(f"could not act on the frame: {exc}"))
                if session.gone or session.cut:
                    break
        except (ConnectionError, asyncio.CancelledError) as exc:
            logger.debug("signaling: a socket went away: %r", exc)  # an ordinary disconnect
            if isinstance(exc, asyncio.CancelledError):
                raise
        finally:
            self._pending.pop(socket, None)
            self._sockets.discard(socket)
            if session is not None and not session.gone:
                await session.end("dropped")
        return socket

    async def _join(
        self,
        socket: web.WebSocketResponse,
        call_id: str,
        frame: Any,
        text: bool,
        transport: asyncio.Transport | None,
    ) -> PeerSession | None:
        limits = self.limits
        if not isinstance(frame, Join):
            await _refuse(
                socket, "the first frame must be a Join with a token", text, limits=limits
            )
            await _close(socket, 4400, b"join first", limits)
            return None
        if frame.version != SIGNALING_VERSION:
            await _refuse(socket, version_mismatch(frame.version), text, frame.seq, limits=limits)
            await _close(socket, VERSION_REFUSED, b"signaling version", limits)
            return None
        try:
            claims = self.tokens.redeem(frame.token, call_id)
        except TokenError as exc:
            await _refuse(socket, f"join refused: {exc}", text, frame.seq, limits=limits)
            await _close(socket, 4401, str(exc).encode()[:120], limits)
            return None
        participant_id = f"{claims.user}__{secrets.token_hex(4)}{next(self._session_ids)}"
        participant = Participant(None, claims.user, participant_id, claims.kind)
        session = PeerSession(
            self,
            call_id,
            participant,
            socket,
            text=text,
            limits=limits,
            counts=self.sent,
            flusher=self._flusher,
            transport=transport,
        )
        participant = msgspec.structs.replace(participant, original=session)
        session.participant = participant
        self._sessions.setdefault(call_id, {})[participant_id] = session
        await session.start()
        session.send(Joined(participant_id, call_id, frame.seq, SIGNALING_VERSION))
        agent_tracks = [spec for _, spec in self._agent_tracks.get(call_id, {}).values()]
        if agent_tracks:
            session.send(Renegotiate(agent_tracks))
        if session.gone or session.cut:
            return session
        roster = self._rosters.get(call_id)
        if roster is None:
            roster = self._rosters[call_id] = CallRoster()
        roster.join(session.entry())
        session.follow(roster)  # its first roster is a snapshot, after Joined
        self._announce(call_id)
        return session


async def _refuse(
    socket: web.WebSocketResponse,
    reason: str,
    text: bool,
    seq: int = 0,
    *,
    limits: LocalLimits,
) -> None:
    """Tell a socket that is not a session (yet) why it is refused, within ``send_timeout``."""
    logger.info("signaling: %s", reason)
    data = encode(ErrorFrame(reason, seq), text=text)
    with contextlib.suppress(ConnectionError, RuntimeError, TimeoutError):
        async with asyncio.timeout(limits.send_timeout):
            if text:
                await socket.send_str(data.decode())
            else:
                await socket.send_bytes(data)


async def _close(socket: web.WebSocketResponse, code: int, why: bytes, limits: LocalLimits) -> None:
    """Close a socket with ``code``, giving the peer ``send_timeout`` to take the close."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(limits.send_timeout):
            await socket.close(code=code, message=why)


_ACCEPT_FAILED = "socket.accept() out of system resource"
_quieted: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def _report_accept_errors_once(loop: asyncio.AbstractEventLoop) -> None:
    """Log the loop's failed accepts (out of file descriptors) once a minute, with a count.

    asyncio reports each failed accept through the loop's exception handler, with
    a traceback, about once a second per listening socket for as long as the
    process is out of descriptors; this keeps one line per episode instead. Other
    reports go to the handler that was there before.
    """
    if loop in _quieted:
        return
    _quieted.add(loop)
    previous = loop.get_exception_handler()
    last, count = -math.inf, 0

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        nonlocal last, count
        if context.get("message") != _ACCEPT_FAILED:
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        count += 1
        now = time.monotonic()
        if now - last < 60.0:
            return
        last = now
        logger.error(
            "the edge cannot accept connections (%s), %d time(s) since the last report: raise "
            "the file-descriptor limit or lower LocalLimits.max_pending",
            context.get("exception"),
            count,
        )
        count = 0

    loop.set_exception_handler(handler)
