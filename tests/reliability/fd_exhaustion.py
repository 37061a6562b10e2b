"""A process that runs out of file descriptors under a real ``LocalEdge``, and says what happened.

Run by ``test_hostile_peers.py`` as ``python fd_exhaustion.py``; it prints one
JSON object on stdout and exits 0 (any failure of its own is a traceback and a
non-zero exit). What it does, on one loop:

1. starts a ``LocalEdge`` with an agent in a call, then lowers its soft
   ``RLIMIT_NOFILE`` to a few above what it has open and opens ``/dev/null``
   until ``open`` fails with ``EMFILE``: no descriptor is left;
2. frees one, connects a client with it and sends a request head: the kernel
   completes the handshake, and the edge's ``accept`` fails with ``EMFILE``
   each time asyncio retries it (once a second);
3. after ``ROUNDS`` rounds of real failures, frees every ``/dev/null``: the waiting
   client is accepted and answered, and a real participant joins the call.

The report says which errno the accepts failed with, how many failed, the
edge's log lines about them, asyncio's own log lines (tracebacks the edge
should have kept quiet), the status the waiting client got and who the agent
saw join. Every wait has a deadline (``WAIT``).
"""

from __future__ import annotations

import asyncio
import errno
import json
import logging
import os
import resource
from typing import Any

from transport import User
from transport.local import LocalEdge

ROUNDS = 3
"""Rounds of failed accepts to see before freeing descriptors.

asyncio tries up to its backlog's worth of accepts per round, then stops
watching the socket and tries again a second later (``ACCEPT_RETRY_DELAY``);
rounds are told apart by that pause (``PAUSE``).
"""

PAUSE = 0.5
"""Seconds between two failed accepts that make them two rounds (asyncio waits 1 s)."""

WAIT = 30.0
"""Seconds any one step may take on a loaded 2-core machine (a step takes at most ~3 s)."""

HEADROOM = 16
"""Descriptors above those open when the limit is lowered: few, so filling them is quick."""


class _Records(logging.Handler):
    """Keeps every log record of the process, to report the edge's and asyncio's lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _fill() -> list[int]:
    """Open ``/dev/null`` until the process is out of descriptors; returns what it opened."""
    held: list[int] = []
    while True:
        try:
            held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError as error:
            if error.errno != errno.EMFILE:
                raise
            return held


async def main() -> dict[str, Any]:
    records = _Records()
    logging.getLogger().addHandler(records)
    loop = asyncio.get_running_loop()
    async with LocalEdge() as edge:
        connection = await edge.join(User("agent"), await edge.create_call("room"))
        host, port = edge.url.removeprefix("http://").split(":")

        # Count what asyncio really reports for each failed accept, then pass it on to
        # the handler the edge installed (the one under test), or asyncio's if none.
        edges_handler = loop.get_exception_handler()
        failures: list[BaseException | None] = []
        rounds: list[float] = []  # loop time of each round's first failure
        enough = asyncio.Event()

        def counting(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            if context.get("message") == "socket.accept() out of system resource":
                failures.append(context.get("exception"))
                if not rounds or loop.time() - rounds[-1] > PAUSE:
                    rounds.append(loop.time())
                if len(rounds) >= ROUNDS:
                    enough.set()
            if edges_handler is not None:
                edges_handler(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(counting)

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        in_use = len(os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(in_use + HEADROOM, soft), hard))
        held = _fill()
        os.close(held.pop())  # one for the client; none is left for the edge's accept
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(f"GET /call/room HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        async with asyncio.timeout(WAIT):
            await enough.wait()

        for fd in held:
            os.close(fd)
        async with asyncio.timeout(WAIT):
            status = (await reader.readline()).decode().strip()
        writer.close()
        guest = edge.participant("room", "guest")
        await guest.join()
        await connection.wait_for_participant(timeout=WAIT)
        joined = [p.user_id for p in connection.participants]
        await guest.leave()
        await connection.close()

    return {
        "errno": sorted({errno.errorcode[getattr(e, "errno", 0) or 0] for e in failures}),
        "failed_accepts": len(failures),
        "rounds": len(rounds),
        "reports": [r.getMessage() for r in records.records if r.name.startswith("transport")],
        "asyncio_records": [r.getMessage() for r in records.records if r.name == "asyncio"],
        "waiting_client": status,
        "joined": joined,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main())), flush=True)
