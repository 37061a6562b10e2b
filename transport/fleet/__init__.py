"""Past one machine (extra ``ray``): hosts, a cluster-wide presence directory, remote refs.

Each host is a Ray actor process running an edge and its connections on its
own loop; presence messages inside a host stay local. The directory (Ray named
actors sharded by call id) knows which host holds each call and its latest
presence; ``lookup`` gives a ``RemoteConnectionRef`` to tell or ask a
connection on any host; ``place`` opens a call on the host with the most room, within each
host's ``max_sessions`` (``FleetFullError`` when all are full); a
host that stops answering is reported by ``next_lost`` as a ``CallsLostEvent``.
"""

from transport.fleet.host import Host, PresenceView
from transport.fleet.presence_directory import PresenceDirectory, start_directory
from transport.fleet.refs import (
    CallsLostEvent,
    FleetFullError,
    RemoteConnectionRef,
    close,
    lookup,
    next_lost,
    place,
    presence,
    sessions,
)

__all__ = [
    "CallsLostEvent",
    "FleetFullError",
    "PresenceDirectory",
    "Host",
    "PresenceView",
    "RemoteConnectionRef",
    "close",
    "lookup",
    "next_lost",
    "place",
    "presence",
    "sessions",
    "start_directory",
]
