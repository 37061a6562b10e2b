"""Past one machine (extra ``ray``): hosts, a cluster-wide presence directory, remote refs.

Each host is a Ray actor process running a real edge (``LocalEdge`` by
default, from the ``edge`` factory it is given), its connections and the
user's ``agent(connection)`` for each call, on its own loop; presence messages
inside a host stay local. ``place`` returns where people join (the host's
URL); ``replace`` opens a lost host's calls again on live hosts. The directory (Ray named
actors sharded by call id) knows which host holds each call and its latest
presence; ``lookup`` gives a ``RemoteConnectionRef`` to tell or ask a
connection on any host; ``place`` opens a call on the host with the most room, within each
host's ``max_sessions`` (``FleetFullError`` when all are full); a
host that stops answering is reported by ``next_lost`` as a ``CallsLostEvent``.
"""

from transport.fleet.host import Agent, EdgeFactory, Host, PresenceView, local_edge
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
    replace,
    sessions,
)

__all__ = [
    "Agent",
    "CallsLostEvent",
    "EdgeFactory",
    "FleetFullError",
    "PresenceDirectory",
    "Host",
    "PresenceView",
    "RemoteConnectionRef",
    "close",
    "local_edge",
    "lookup",
    "next_lost",
    "place",
    "presence",
    "replace",
    "sessions",
    "start_directory",
]
