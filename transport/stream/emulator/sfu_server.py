"""One emulated Stream SFU: the signaling websocket and the twirp RPCs the SDK calls.

Each SFU is an aiohttp server of its own on 127.0.0.1, so the coordinator can
hand a call to another one (a migration) at another address. Its websocket
(``ws_endpoint`` in the join credentials) takes a ``JoinRequest`` first, checks
its SFU token, answers with a ``JoinResponse`` and then sends the call's
events; its twirp service (``url``) takes ``SetPublisher``, ``SendAnswer``,
``IceTrickle``, ``UpdateSubscriptions``, ``UpdateMuteStates`` and the stats
calls. Every frame and RPC body is decoded by ``wire``: malformed input gets an
``Error`` event or a twirp error, and a peer that keeps sending it is dropped.
Each websocket has an outbox written by its own task, so no event waits on a
slow client; one that does not read for ``send_timeout`` seconds is dropped.
Runs on the emulator's loop.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from transport.stream.emulator.room import Room, SfuSession
from transport.stream.emulator.tokens import Keys, Refusal
from transport.stream.emulator.wire import (
    MAX_FRAME,
    RPC,
    WireError,
    decode,
    decode_request,
    encode,
    error_event,
    events_pb2,
    models_pb2,
)

__all__ = ["EmulatedSfu", "JoinHold", "Link", "SfuLimits"]

logger = logging.getLogger(__name__)

_FINISH = object()


class SfuLimits:
    """How long an SFU waits for a client, and how much it holds for one."""

    def __init__(
        self,
        *,
        join_timeout: float = 5.0,
        idle_timeout: float = 30.0,
        send_timeout: float = 5.0,
        max_queued: int = 1024,
        max_refused: int = 32,
    ) -> None:
        self.join_timeout = join_timeout
        """Seconds a new websocket has to send its ``JoinRequest``."""
        self.idle_timeout = idle_timeout
        """Seconds without any frame (the SDK sends a health check every 10 s) before a drop."""
        self.send_timeout = send_timeout
        """Seconds one frame may take to reach the client before it is dropped."""
        self.max_queued = max_queued
        """Frames queued for one client before it is dropped."""
        self.max_refused = max_refused
        """Malformed frames one client may send before it is dropped."""


class JoinHold:
    """Holds a user's joins at the SFUs until ``release()``; usable from any thread and loop."""

    def __init__(self) -> None:
        self._arrived: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._released: concurrent.futures.Future[None] = concurrent.futures.Future()

    async def arrived(self) -> None:
        """Return once a held join is waiting at an SFU."""
        await asyncio.wrap_future(self._arrived)

    def release(self) -> None:
        """Let the held joins (and later ones) through."""
        if not self._released.done():
            self._released.set_result(None)

    async def wait(self) -> None:
        """Called by the SFU, on its loop, for each held join."""
        if not self._arrived.done():
            self._arrived.set_result(None)
        await asyncio.wrap_future(self._released)


class Link:
    """One signaling websocket, with its outbox: events queue, its own task writes them."""

    def __init__(self, ws: ServerConnection, sfu: str, limits: SfuLimits) -> None:
        self.ws = ws
        self.sfu = sfu
        self.dropped = False
        """Closed by the SFU without a goodbye (a drop, a timeout): the session may come back."""
        self._limits = limits
        self._queue: collections.deque[object] = collections.deque()
        self._wake = asyncio.Event()
        self._open = False
        self._finish_code = 1000
        self._task = asyncio.get_running_loop().create_task(self._write())

    def send(self, frame: bytes) -> None:
        """Queue one frame (held back until ``open``; a client too far behind is dropped)."""
        if self._task.done():
            return
        if len(self._queue) >= self._limits.max_queued:
            logger.info("dropping a signaling client %d frames behind", len(self._queue))
            self.drop(1011)
            return
        self._queue.append(frame)
        self._wake.set()

    def open(self, first: bytes) -> None:
        """Send ``first`` (the ``JoinResponse``) ahead of everything queued, then the rest."""
        self._queue.appendleft(first)
        self._open = True
        self._wake.set()

    def drop(self, code: int) -> None:
        """Close now, without sending what is queued (the client sees its socket drop)."""
        self.dropped = True
        self._queue.clear()
        self.finish(code)

    def finish(self, code: int) -> None:
        """Close once what is queued has been sent."""
        self._finish_code = code
        self._queue.append(_FINISH)
        self._open = True
        self._wake.set()

    async def stop(self) -> None:
        """Stop the writer (the websocket is closed)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _write(self) -> None:
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                while self._open and self._queue:
                    item = self._queue.popleft()
                    if item is _FINISH:
                        await self.ws.close(code=self._finish_code)
                        return
                    assert isinstance(item, bytes)
                    await asyncio.wait_for(self.ws.send(item), self._limits.send_timeout)
        except (TimeoutError, ConnectionClosed) as exc:
            logger.info("signaling client gone while sending: %r", exc)
            self.dropped = True
            with contextlib.suppress(Exception):
                await self.ws.close(code=1011)


class EmulatedSfu:
    """One SFU of the emulator: ``edge_name``, its twirp ``url`` and its ``ws_endpoint``.

    ``rooms`` finds a call's ``Room`` by its cid; ``keys`` checks SFU tokens.
    """

    def __init__(
        self,
        name: str,
        keys: Keys,
        rooms: Callable[[str], Room | None],
        limits: SfuLimits | None = None,
    ) -> None:
        self.edge_name = name
        self.limits = limits if limits is not None else SfuLimits()
        self.holds: dict[str, JoinHold] = {}
        """Users whose joins wait at this SFU until their hold is released."""
        self.refusals: dict[str, tuple[int, str]] = {}
        """Users whose joins this SFU refuses: the ``ErrorCode`` and message of its ``Error``."""
        self._keys = keys
        self._rooms = rooms
        self._links: dict[Link, SfuSession | None] = {}
        self._runner: web.AppRunner | None = None
        self._signaling: Server | None = None
        self.url = ""
        """The twirp base URL the join credentials carry (``server.url``)."""
        self.ws_endpoint = ""
        """The signaling websocket's URL (``server.ws_endpoint``)."""

    async def start(self, host: str = "127.0.0.1") -> None:
        """Listen on ``host`` (free ports: one for twirp, one for the websocket)."""
        app = web.Application(client_max_size=MAX_FRAME)
        app.router.add_post(r"/{prefix:.*}stream.video.sfu.signal.SignalServer/{method}", self._rpc)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, 0).start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}/twirp"
        # The SDK sends its protobuf frames as websocket *text* frames, which
        # aiohttp would refuse as invalid UTF-8; websockets hands them over as bytes.
        self._signaling = await serve(
            self._signal,
            host,
            0,
            max_size=MAX_FRAME,
            close_timeout=2.0,
            process_request=_only_ws_path,
        )
        port = next(iter(self._signaling.sockets)).getsockname()[1]
        self.ws_endpoint = f"ws://{host}:{port}/ws"

    async def stop(self) -> None:
        """Close every websocket and stop listening."""
        if self._signaling is not None:
            # No closing handshakes: the SDK's websocket client leaves its socket
            # open after answering one (websocket-client), so each would take the
            # full close timeout.
            for connection in self._signaling.connections:
                connection.transport.abort()
            self._signaling.close()
            await self._signaling.wait_closed()
            self._signaling = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def drop(self, match: Callable[[SfuSession], bool]) -> int:
        """Drop the websockets of the sessions ``match`` picks; how many were dropped."""
        dropped = 0
        for link, session in list(self._links.items()):
            if session is not None and session.signal is link and match(session):
                link.drop(1012)
                dropped += 1
        return dropped

    # -- the signaling websocket ---------------------------------------------

    async def _signal(self, ws: ServerConnection) -> None:
        link = Link(ws, self.edge_name, self.limits)
        self._links[link] = None
        try:
            joined = await self._join(ws, link)
            if joined is not None:
                self._links[link] = joined[1]
                await self._serve(ws, link, *joined)
        finally:
            await link.stop()
            del self._links[link]
            await ws.close()

    async def _join(self, ws: ServerConnection, link: Link) -> tuple[Room, SfuSession] | None:
        refuse = models_pb2.ERROR_CODE_REQUEST_VALIDATION_FAILED
        try:
            data = await asyncio.wait_for(ws.recv(decode=False), self.limits.join_timeout)
            kind, join = decode_request(data)
            if kind != "join_request":
                raise WireError(f"the first request must be a join_request, not {kind}")
            if not join.session_id:
                raise WireError("the join_request has no session_id")
            refuse = models_pb2.ERROR_CODE_UNAUTHENTICATED
            grant = self._keys.check_grant(join.token)
            room = self._rooms(grant.cid)
            if room is None or room.ended:
                refuse = models_pb2.ERROR_CODE_CALL_NOT_FOUND
                raise LookupError(f"call {grant.cid} is not running: join it again")
            hold = self.holds.get(grant.user_id)
            if hold is not None:
                await hold.wait()
            refusal = self.refusals.get(grant.user_id)
            if refusal is not None:
                refuse = refusal[0]
                raise PermissionError(refusal[1])
            refuse = models_pb2.ERROR_CODE_PERMISSION_DENIED
            session, back = await room.admit(
                grant.user_id, join.session_id, link, fast=join.fast_reconnect
            )
        except TimeoutError:
            await ws.close(code=4408, reason="no join_request in time")
            return None
        except ConnectionClosed:
            return None
        except (WireError, Refusal, LookupError, PermissionError) as exc:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(error_event(refuse, str(exc)))
            await ws.close(code=4400)
            return None
        response = events_pb2.JoinResponse(
            call_state=room.call_state(),
            reconnected=back,
            fast_reconnect_deadline_seconds=int(room.limits.reconnect_deadline),
        )
        link.open(encode(join_response=response))
        return room, session

    async def _serve(
        self, ws: ServerConnection, link: Link, room: Room, session: SfuSession
    ) -> None:
        refused = 0
        code: int | None = None
        while True:
            try:
                data = await asyncio.wait_for(ws.recv(decode=False), self.limits.idle_timeout)
            except TimeoutError:
                link.dropped = True
                break
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd is not None else None
                break
            try:
                kind, payload = decode_request(data)
            except WireError as exc:
                refused += 1
                link.send(error_event(models_pb2.ERROR_CODE_REQUEST_VALIDATION_FAILED, str(exc)))
                if refused >= self.limits.max_refused:
                    link.drop(4400)
                continue
            if kind == "health_check_request":
                count = models_pb2.ParticipantCount(total=len(room.sessions))
                link.send(
                    encode(
                        health_check_response=events_pb2.HealthCheckResponse(
                            participant_count=count
                        )
                    )
                )
            elif kind == "leave_call_request":
                await room.leave(session, payload.reason or "left", link)
                link.finish(1000)
                return
            else:  # a join again, or a request this emulator does not serve (wire.REQUESTS)
                link.send(error_event(models_pb2.ERROR_CODE_REQUEST_VALIDATION_FAILED, kind))
        if link.dropped or code not in (1000, 1001):
            room.lost(session, link)
        else:
            await room.leave(session, "left", link)

    # -- twirp -----------------------------------------------------------------

    async def _rpc(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method not in RPC:
            return _twirp_error(404, "bad_route", f"no method {method} on SignalServer")
        request_type, response_type = RPC[method]
        try:
            grant = self._keys.check_grant(request.headers.get("authorization", ""))
        except Refusal as exc:
            return _twirp_error(401, "unauthenticated", exc.message)
        try:
            message = decode(request_type, await request.read())
        except WireError as exc:
            return _twirp_error(400, "malformed", str(exc))
        room = self._rooms(grant.cid)
        session = None if room is None else room.sessions.get(message.session_id)
        if room is None or session is None or session.user_id != grant.user_id:
            error = models_pb2.Error(
                code=models_pb2.ERROR_CODE_PARTICIPANT_NOT_FOUND,
                message=f"no session {message.session_id!r} of this user in {grant.cid}",
            )
            return _proto(_with_error(response_type, error))
        try:
            response = await self._call(method, room, session, message, response_type)
        except Exception as exc:  # a bad SDP or candidate from the client
            error = models_pb2.Error(
                code=models_pb2.ERROR_CODE_REQUEST_VALIDATION_FAILED,
                message=f"{method} refused: {exc}",
            )
            return _proto(_with_error(response_type, error))
        return _proto(response)

    async def _call(
        self, method: str, room: Room, session: SfuSession, message: Any, response_type: Any
    ) -> Any:
        if method == "SetPublisher":
            answer = await room.publish(session, message.sdp, message.tracks)
            return response_type(sdp=answer, session_id=session.session_id)
        if method == "SendAnswer":
            room.answer(session, message.peer_type, message.sdp)
        elif method == "IceTrickle":
            await room.trickle(session, message.peer_type, message.ice_candidate)
        elif method == "UpdateSubscriptions":
            room.subscribe(session, message.tracks)
        elif method == "UpdateMuteStates":
            await room.mute(session, message.mute_states)
        return response_type()


def _with_error(response_type: Any, error: Any) -> Any:
    if "error" in response_type.DESCRIPTOR.fields_by_name:
        return response_type(error=error)
    return response_type()


def _proto(message: Any) -> web.Response:
    return web.Response(body=message.SerializeToString(), content_type="application/protobuf")


def _twirp_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"code": code, "msg": message, "meta": {}}, status=status)


def _only_ws_path(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.split("?", 1)[0] == "/ws":
        return None
    return connection.respond(404, "the SFU's websocket is at /ws\n")
