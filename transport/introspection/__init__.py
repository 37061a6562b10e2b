"""What a running host holds: a Unix-socket server of connection reports, and its client.

``serve_introspection(edges, path)`` runs in the host, on the edges' loop;
``fetch_reports(path)`` asks it from any process, and ``python -m
transport.introspection PATH`` prints what it answers (``render``).
"""

from transport.introspection.cli import main, render
from transport.introspection.server import collect_reports, fetch_reports, serve_introspection

__all__ = ["collect_reports", "fetch_reports", "main", "render", "serve_introspection"]
