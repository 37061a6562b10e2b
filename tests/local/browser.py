"""A real headless Chromium driven over the DevTools protocol (no browser download needed).

Debian's ``chromium`` runs with fake camera and microphone; ``Browser.open(url)``
opens a page and ``close_page`` closes it, as a person closing the tab would.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import shutil
import tempfile
from typing import Any

import aiohttp

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

HEADLESS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
"""Headless, with a fake camera and microphone it may use unasked (add ``--user-data-dir``)."""

FLAGS = [*HEADLESS, "--remote-debugging-port=0", "about:blank"]


class Browser:
    """One Chromium process and its DevTools connection."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._profile: tempfile.TemporaryDirectory[str] | None = None  # made off the loop
        self._http: aiohttp.ClientSession | None = None
        self._socket: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[Any]] = {}
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        assert CHROMIUM is not None
        self._profile = await asyncio.to_thread(
            tempfile.TemporaryDirectory, prefix="edge-actors-chromium-"
        )
        self._process = await asyncio.create_subprocess_exec(
            CHROMIUM,
            f"--user-data-dir={self._profile.name}",
            *FLAGS,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert self._process.stderr is not None
        endpoint = None
        while endpoint is None:
            line = await asyncio.wait_for(self._process.stderr.readline(), timeout=30)
            if not line:
                raise RuntimeError("chromium exited before it offered DevTools")
            found = re.search(rb"DevTools listening on (ws://\S+)", line)
            if found:
                endpoint = found.group(1).decode()
        self._http = aiohttp.ClientSession()
        self._socket = await self._http.ws_connect(endpoint, max_msg_size=0)
        self._reader = asyncio.get_running_loop().create_task(self._read())

    async def _read(self) -> None:
        assert self._socket is not None
        async for message in self._socket:
            data = message.json()
            reply = self._replies.pop(data.get("id", -1), None)
            if reply is not None and not reply.done():
                reply.set_result(data)

    async def call(self, method: str, session: str | None = None, **params: Any) -> Any:
        assert self._socket is not None
        number = next(self._ids)
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._replies[number] = reply
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session is not None:
            message["sessionId"] = session
        await self._socket.send_json(message)
        data = await asyncio.wait_for(reply, timeout=30)
        if "error" in data:
            raise RuntimeError(f"{method}: {data['error']}")
        return data.get("result", {})

    async def open(self, url: str) -> str:
        """Open ``url`` in a new tab; returns the tab's target id."""
        result = await self.call("Target.createTarget", url=url)
        return str(result["targetId"])

    async def evaluate(self, target_id: str, expression: str) -> Any:
        """Evaluate ``expression`` in the page (awaiting it if it is a promise); its value."""
        attached = await self.call("Target.attachToTarget", targetId=target_id, flatten=True)
        result = await self.call(
            "Runtime.evaluate",
            session=attached["sessionId"],
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(str(result["exceptionDetails"]))
        return result["result"].get("value")

    async def close_page(self, target_id: str) -> None:
        await self.call("Target.closeTarget", targetId=target_id)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._socket is not None:
                await self.call("Browser.close")
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._socket is not None:
            await self._socket.close()
        if self._http is not None:
            await self._http.close()
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                self._process.kill()
            await self._process.wait()
        if self._profile is not None:
            await asyncio.to_thread(self._profile.cleanup)
