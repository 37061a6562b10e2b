"""Bare aiortc, as its users write a server: the voice echo host ``voice_density`` compares with.

aiohttp takes an SDP offer at ``POST /offer`` and answers it; each call is one
``RTCPeerConnection`` whose received audio goes back to its sender through a
``MediaRelay``, as aiortc's own server example relays media. No actors, no
edge, none of edge-actors' replacements: this process runs aiortc as installed.
"""

from __future__ import annotations

from typing import Any

__all__ = ["EchoServer"]


class EchoServer:
    """``async with EchoServer() as server``: serves on 127.0.0.1 at ``server.url``."""

    def __init__(self) -> None:
        from aiortc.contrib.media import MediaRelay

        self.url = ""
        self._relay = MediaRelay()
        self._peers: set[Any] = set()
        self._runner: Any = None

    async def __aenter__(self) -> EchoServer:
        from aiohttp import web

        app = web.Application()
        app.router.add_post("/offer", self._offer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = site._server.sockets[0].getsockname()[:2]  # type: ignore[union-attr]  # noqa: SLF001
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for pc in list(self._peers):
            await pc.close()
        await self._runner.cleanup()

    async def _offer(self, request: Any) -> Any:
        from aiohttp import web
        from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

        params = await request.json()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self._peers.add(pc)

        @pc.on("track")
        def on_track(track: Any) -> None:
            pc.addTrack(self._relay.subscribe(track))

        await pc.setRemoteDescription(RTCSessionDescription(params["sdp"], params["type"]))
        await pc.setLocalDescription(await pc.createAnswer())
        return web.json_response({"sdp": pc.localDescription.sdp, "type": "answer"})
