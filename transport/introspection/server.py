"""A local socket that reports every live connection of a running host.

``serve_introspection(edges, path)`` listens on a Unix socket; each client that
connects receives a JSON list of ``ConnectionReport``s (one per open
connection of the given edges, taken through ``Connection.report()``), and the
socket is closed. ``fetch_reports(path)`` is the client; ``python -m
transport.introspection PATH`` prints the reports. The server runs on the edges'
loop and only reads: it changes nothing in the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from pathlib import Path

import msgspec

from actors.connection_interface import ConnectionReport
from messages import ConnectionClosedError
from transport._edge import EdgeTransport

__all__ = ["collect_reports", "fetch_reports", "serve_introspection"]

logger = logging.getLogger(__name__)


async def collect_reports(edges: Iterable[EdgeTransport]) -> list[ConnectionReport]:
    """Reports of every open connection of ``edges``, in join order per edge.

    Participants' provider objects (``original``) are left out, as on the wire.
    """
    reports: list[ConnectionReport] = []
    for edge in edges:
        for connection in edge.connections():
            with contextlib.suppress(ConnectionClosedError):
                report = await connection.report()
                # Provider objects stay in the process, as on the wire.
                participants = tuple(
                    p if p.original is None else msgspec.structs.replace(p, original=None)
                    for p in report.participants
                )
                reports.append(msgspec.structs.replace(report, participants=participants))
    return reports


async def serve_introspection(
    edges: EdgeTransport | Iterable[EdgeTransport], path: str | Path
) -> asyncio.AbstractServer:
    """Start answering on the Unix socket ``path``; close the returned server to stop."""
    members = (edges,) if isinstance(edges, EdgeTransport) else tuple(edges)

    async def answer(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(msgspec.json.encode(await collect_reports(members)))
            await writer.drain()
        except Exception:
            logger.exception("introspection request failed")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_unix_server(answer, path=str(path))


async def fetch_reports(path: str | Path) -> list[ConnectionReport]:
    """Ask the host listening on ``path`` for its reports."""
    reader, writer = await asyncio.open_unix_connection(str(path))
    try:
        data = await reader.read()
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    return msgspec.json.decode(data, type=list[ConnectionReport])
