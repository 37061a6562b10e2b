"""``python -m transport.introspection PATH``: print the live connections of a running host.

The host serves them with ``transport.introspection.serve_introspection``.
``--json`` prints the raw reports; otherwise a block per connection shows
presence, tracks, mailbox depth, restarts and the recent lifecycle.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import sys

import msgspec

from actors.connection_interface import ConnectionReport
from transport.introspection.server import fetch_reports

__all__ = ["main", "render"]


def _when(at: float) -> str:
    return datetime.datetime.fromtimestamp(at).strftime("%H:%M:%S.%f")[:-3] if at else "-"


def render(reports: list[ConnectionReport]) -> str:
    """The reports as plain text, one block per connection."""
    if not reports:
        return "no live connections"
    blocks = []
    for report in reports:
        lines = [
            f"{report.key}  call={report.call_id}  agent={report.agent_user_id}  "
            f"state={report.state.value}  idle_since={_when(report.idle_since)}",
            f"  mailbox depth {report.mailbox_depth}, handled {report.messages_handled}, "
            f"restarts {report.restarts}",
        ]
        for participant in report.participants:
            mark = " (reconnecting)" if participant.id in report.reconnecting else ""
            tracks = [
                t.track_type.name for t in report.tracks if t.participant_id == participant.id
            ]
            lines.append(
                f"  {participant.id} [{participant.kind.value}]{mark} "
                f"tracks: {', '.join(tracks) or '-'}"
            )
        for entry in report.lifecycle:
            who = f" {entry.participant_id}" if entry.participant_id else ""
            why = f" ({entry.reason})" if entry.reason else ""
            lines.append(f"    {_when(entry.at)} {entry.what}{who}{why}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    """Entry point: fetch and print; exit 1 if the host cannot be reached."""
    parser = argparse.ArgumentParser(prog="python -m transport.introspection", description=__doc__)
    parser.add_argument("path", help="the Unix socket the host serves introspection on")
    parser.add_argument("--json", action="store_true", help="print the raw reports as JSON")
    args = parser.parse_args(argv)
    try:
        reports = asyncio.run(fetch_reports(args.path))
    except OSError as exc:
        print(f"cannot reach a host at {args.path}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(msgspec.json.encode(reports).decode())
    else:
        print(render(reports))
    return 0
