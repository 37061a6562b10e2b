"""The emulated coordinator: the REST endpoints and the event websocket the SDK uses.

What the getstream SDK 4.x calls on Stream's coordinator, and nothing more:
``POST /api/v2/users`` (``upsert_users``), ``POST /api/v2/video/call/{type}/{id}``
(``get_or_create``, and the SDK's watch with a ``connection_id``),
``POST /api/v2/video/call/{type}/{id}/join`` (the SFU credentials: which SFU,
its URLs, a token for it) and the websocket ``/api/v2/connect`` (the SDK
opens it beside each join; the emulator sends it ``custom`` events). Each
request is checked like Stream checks it (``tokens.Keys``): a wrong API key or
secret gets a 401 with Stream's ``APIError`` body, a user token on a
server-side endpoint a 403. The JSON follows the SDK's own models
(``getstream.models``, ``getstream.video.rtc.models``). Runs on the
emulator's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import WSMsgType, web
from getstream.models import (
    CallResponse,
    FullUserResponse,
    GetOrCreateCallResponse,
    SendCallEventResponse,
    UpdateUsersResponse,
)
from getstream.video.rtc.models import Credentials, JoinCallResponse, ServerCredentials

from messages import InvalidCallIdError, check_call_id
from transport.stream.emulator.models import api_object
from transport.stream.emulator.room import Room, RoomLimits
from transport.stream.emulator.sfu_server import EmulatedSfu
from transport.stream.emulator.tokens import (
    CODE_INPUT,
    CODE_NOT_ALLOWED,
    CODE_NOT_FOUND,
    Keys,
    Refusal,
)

__all__ = ["Coordinator"]

Handler = Callable[[web.Request, "Caller"], Awaitable[dict[str, Any]]]
MAX_BODY = 256 * 1024


def _now() -> int:
    """A timestamp as the API sends it (and the SDK decodes it): nanoseconds since the epoch."""
    return time.time_ns()


class Caller:
    """Who sent a request: a user id, or ``None`` for a server-side token."""

    def __init__(self, user_id: str | None) -> None:
        self.user_id = user_id

    def server(self) -> None:
        """Refuse (403) unless the caller is server-side."""
        if self.user_id is not None:
            msg = "this endpoint needs a server-side token (signed without user_id)"
            raise Refusal(403, CODE_NOT_ALLOWED, msg)

    def user(self) -> str:
        """The caller's user id; refuse (403) a server-side token."""
        if self.user_id is None:
            raise Refusal(403, CODE_NOT_ALLOWED, "this endpoint needs a user token (with user_id)")
        return self.user_id


class Coordinator:
    """Stream's coordinator API for the SDK, on one aiohttp server.

    ``rooms`` holds the calls' rooms by cid (the coordinator makes them, the
    SFUs serve them); ``assign`` names the SFU a call's joins go to.
    ``join_delay`` answers joins that many seconds late; ``refusal`` (a
    message) refuses every request with a 401 until it is ``None`` again.
    """

    def __init__(
        self,
        keys: Keys,
        rooms: dict[str, Room],
        assign: Callable[[str], EmulatedSfu],
        limits: RoomLimits,
    ) -> None:
        self.join_delay = 0.0
        self.refusal: str | None = None
        self._keys = keys
        self._rooms = rooms
        self._assign = assign
        self._limits = limits
        self._users: dict[str, dict[str, Any]] = {}
        self._calls: dict[str, dict[str, Any]] = {}
        self._sockets: dict[str, tuple[str, web.WebSocketResponse]] = {}
        self._watchers: dict[str, set[str]] = {}
        self._watch_changed: asyncio.Condition | None = None  # made on the emulator's loop
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, host: str = "127.0.0.1") -> None:
        """Listen on ``host`` (a free port); ``url`` is then the SDK's ``base_url``."""
        app = web.Application(client_max_size=MAX_BODY)
        for path, handler in (
            ("/api/v2/users", self._upsert_users),
            ("/api/v2/video/call/{type}/{id}", self._get_or_create),
            ("/video/call/{type}/{id}", self._get_or_create),  # the SDK's re-watch path
            ("/api/v2/video/call/{type}/{id}/join", self._join),
            ("/api/v2/video/call/{type}/{id}/event", self._send_event),
        ):
            app.router.add_post(path, self._api(handler))
        app.router.add_get("/api/v2/connect", self._connect)
        app.router.add_route("*", "/{tail:.*}", self._api(self._unknown))
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, 0).start()
        self.url = f"http://{host}:{self._runner.addresses[0][1]}"

    async def stop(self) -> None:
        """Close the event websockets and stop listening."""
        for _, ws in list(self._sockets.values()):
            with contextlib.suppress(Exception):
                await ws.close(code=1001)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def until_watching(self, cid: str, user_id: str) -> None:
        """Return once an event websocket of ``user_id`` watches ``cid`` (its events reach it)."""
        if self._watch_changed is None:
            self._watch_changed = asyncio.Condition()
        async with self._watch_changed:
            await self._watch_changed.wait_for(
                lambda: any(
                    self._sockets.get(connection, ("", None))[0] == user_id
                    for connection in self._watchers.get(cid, ())
                )
            )

    async def send_custom(self, cid: str, user_id: str, custom: dict[str, Any]) -> int:
        """Send a ``custom`` event to the event websockets watching ``cid``; how many got it."""
        event = {
            "type": "custom",
            "call_cid": cid,
            "custom": custom,
            "user": self._user_response(user_id),
            "created_at": _now(),
        }
        sent = 0
        for connection_id in list(self._watchers.get(cid, ())):
            entry = self._sockets.get(connection_id)
            if entry is not None and not entry[1].closed:
                with contextlib.suppress(ConnectionError):
                    await entry[1].send_str(json.dumps(event))
                    sent += 1
        return sent

    # -- REST ------------------------------------------------------------------

    def _api(self, handler: Handler) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def serve(request: web.Request) -> web.Response:
            started = time.monotonic()
            try:
                if self.refusal is not None:
                    raise Refusal(401, 5, self.refusal)
                token = request.headers.get("Authorization")
                caller = Caller(self._keys.caller(request.query.get("api_key"), token))
                body = await handler(request, caller)
            except Refusal as refusal:
                return web.json_response(refusal.body(started), status=refusal.status)
            body["duration"] = f"{(time.monotonic() - started) * 1000:.2f}ms"
            return web.json_response(body)

        return serve

    async def _unknown(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        msg = f"{request.method} {request.path} is not an endpoint of this Stream emulator"
        raise Refusal(404, CODE_NOT_FOUND, msg)

    async def _body(self, request: web.Request) -> dict[str, Any]:
        raw = await request.read()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise Refusal(400, CODE_INPUT, "the request body is not JSON") from None
        if not isinstance(body, dict):
            raise Refusal(400, CODE_INPUT, "the request body must be a JSON object")
        return body

    async def _upsert_users(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        caller.server()
        users = (await self._body(request)).get("users")
        if not isinstance(users, dict) or not users:
            raise Refusal(400, CODE_INPUT, "users must be an object of user id to user")
        for user_id, user in users.items():
            if not isinstance(user, dict) or user.get("id", user_id) != user_id:
                raise Refusal(400, CODE_INPUT, f"user {user_id!r} must be an object with its id")
            record = self._users.setdefault(user_id, {"created_at": _now()})
            for field in ("name", "image", "custom", "role"):
                if user.get(field) is not None:
                    record[field] = user[field]
            record["updated_at"] = _now()
        return api_object(
            UpdateUsersResponse,
            users={user_id: self._user_response(user_id) for user_id in users},
        )

    def _call_path(self, request: web.Request) -> tuple[str, str]:
        call_type, call_id = request.match_info["type"], request.match_info["id"]
        try:
            check_call_id(call_id)
            check_call_id(call_type)
        except InvalidCallIdError as exc:
            raise Refusal(400, CODE_INPUT, str(exc)) from None
        return call_type, call_id

    async def _send_event(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        """A custom call event (``send_call_event``) to the call's watchers, as Stream fans it out.

        A user token sends as its user; a server-side token must name the
        sender (``user_id`` or ``user``), as Stream's API requires.
        """
        call_type, call_id = self._call_path(request)
        cid = f"{call_type}:{call_id}"
        if cid not in self._calls:
            raise Refusal(404, CODE_NOT_FOUND, f"call {cid} does not exist: create it first")
        body = await self._body(request)
        custom = body.get("custom")
        if not isinstance(custom, dict):
            raise Refusal(400, CODE_INPUT, "custom must be a JSON object")
        user = body.get("user")
        sender = caller.user_id or body.get("user_id") or (user or {}).get("id")
        if not isinstance(sender, str) or not sender:
            msg = "a server-side token must name the sender of a call event: user_id or user"
            raise Refusal(400, CODE_INPUT, msg)
        await self.send_custom(cid, sender, custom)
        return api_object(SendCallEventResponse)

    async def _get_or_create(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        call_type, call_id = self._call_path(request)
        body = await self._body(request)
        cid = f"{call_type}:{call_id}"
        created = cid not in self._calls
        if created:
            data = body.get("data")
            data = data if isinstance(data, dict) else {}
            creator = caller.user_id or str(data.get("created_by_id") or "")
            if not creator:
                msg = "a server-side call needs data.created_by_id (the user who creates it)"
                raise Refusal(400, CODE_INPUT, msg)
            custom = data.get("custom")
            custom = custom if isinstance(custom, dict) else {}
            self._calls[cid] = {"created_by": creator, "custom": custom, "created_at": _now()}
        connection_id = request.query.get("connection_id")
        if connection_id and connection_id in self._sockets:
            self._watchers.setdefault(cid, set()).add(connection_id)
            if self._watch_changed is not None:
                async with self._watch_changed:
                    self._watch_changed.notify_all()
        return api_object(
            GetOrCreateCallResponse, call=self._call_response(call_type, call_id), created=created
        )

    async def _join(self, request: web.Request, caller: Caller) -> dict[str, Any]:
        user_id = caller.user()
        call_type, call_id = self._call_path(request)
        body = await self._body(request)
        cid = f"{call_type}:{call_id}"
        if cid not in self._calls:
            if not body.get("create"):
                raise Refusal(404, CODE_NOT_FOUND, f"call {cid} does not exist: create it first")
            self._calls[cid] = {"created_by": user_id, "custom": {}, "created_at": _now()}
        self._users.setdefault(user_id, {"created_at": _now(), "updated_at": _now()})
        if self.join_delay:
            await asyncio.sleep(self.join_delay)
        room = self._rooms.get(cid)
        if room is None or room.ended:
            self._rooms[cid] = Room(call_type, call_id, self._limits)
        sfu = self._assign(cid)
        server = api_object(
            ServerCredentials, edge_name=sfu.edge_name, url=sfu.url, ws_endpoint=sfu.ws_endpoint
        )
        credentials = api_object(
            Credentials, server=server, token=self._keys.grant(user_id, cid), ice_servers=[]
        )
        return api_object(
            JoinCallResponse,
            call=self._call_response(call_type, call_id),
            credentials=credentials,
            stats_options={"reporting_interval_ms": 8000},
        )

    def _user_response(self, user_id: str) -> dict[str, Any]:
        record = self._users.get(user_id, {})
        return api_object(
            FullUserResponse,
            id=user_id,
            name=record.get("name", ""),
            image=record.get("image", ""),
            role=record.get("role", "user"),
            custom=record.get("custom", {}),
            created_at=record.get("created_at", _now()),
            updated_at=record.get("updated_at", _now()),
        )

    def _call_response(self, call_type: str, call_id: str) -> dict[str, Any]:
        cid = f"{call_type}:{call_id}"
        call = self._calls[cid]
        return api_object(
            CallResponse,
            type=call_type,
            id=call_id,
            cid=cid,
            created_by=self._user_response(call["created_by"]),
            custom=call["custom"],
            created_at=call["created_at"],
            updated_at=call["created_at"],
        )

    # -- the event websocket -----------------------------------------------------

    async def _connect(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 1024)
        await ws.prepare(request)
        started = time.monotonic()
        connection_id = ""
        try:
            try:
                first = await ws.receive(timeout=5.0)
                auth = json.loads(first.data) if first.type is WSMsgType.TEXT else None
                if not isinstance(auth, dict):
                    raise Refusal(400, CODE_INPUT, "send the auth payload (JSON) first")
                if self.refusal is not None:
                    raise Refusal(401, 5, self.refusal)
                user_id = self._keys.caller(request.query.get("api_key"), auth.get("token"))
                if user_id is None:
                    raise Refusal(400, CODE_INPUT, "connect with a user token")
            except TimeoutError:
                await ws.close(code=4408)
                return ws
            except (Refusal, ValueError) as exc:
                refusal = exc if isinstance(exc, Refusal) else Refusal(400, CODE_INPUT, str(exc))
                error = {"type": "connection.error", "error": refusal.body(started)}
                await ws.send_str(json.dumps(error))
                await ws.close(code=4401)
                return ws
            connection_id = secrets.token_hex(8)
            self._sockets[connection_id] = (user_id, ws)
            ok = {
                "type": "connection.ok",
                "connection_id": connection_id,
                "me": self._user_response(user_id),
                "created_at": _now(),
            }
            await ws.send_str(json.dumps(ok))
            async for message in ws:
                if message.type is WSMsgType.TEXT and '"health.check"' in message.data:
                    beat = {"type": "health.check", "connection_id": connection_id}
                    await ws.send_str(json.dumps(beat | {"created_at": _now()}))
        finally:
            self._sockets.pop(connection_id, None)
            for watchers in self._watchers.values():
                watchers.discard(connection_id)
        return ws
