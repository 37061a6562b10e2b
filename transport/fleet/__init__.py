"""Past one machine (extra ``ray``): hosts, a cluster-wide presence directory, remote refs.

Each host is a Ray actor process running a real edge (``LocalEdge`` by
default, from the ``edge`` factory it is given), its connections and the
user's ``agent(connection)`` for each call, on its own loop; presence messages
inside a host stay local. ``place`` opens a call on the host with the most
room, within each host's ``max_sessions`` (``FleetFullError`` when all are
full), one host per call (``AlreadyPlacedError``), and returns where people
join (the host's URL). The directory (Ray named actors sharded by call id)
knows which host holds each call and its latest presence; ``lookup`` gives a
``RemoteConnectionRef`` to tell or ask a connection on any host. A host that
stops answering is reported by ``next_lost`` as a ``CallsLostEvent``;
``replace`` opens its calls again on live hosts (``losses(replace_lost=True)``
does it for every loss); a lost host found alive closes its calls (fencing).
"""

from transport.fleet.host import Agent, EdgeFactory, Host, PresenceView, local_edge
from transport.fleet.presence_directory import PresenceDirectory, start_directory
from transport.fleet.refs import (
    AlreadyPlacedError,
    CallsLostEvent,
    FleetFullError,
    RemoteConnectionRef,
    close,
    lookup,
    losses,
    next_lost,
    place,
    presence,
    replace,
    sessions,
)

__all__ = [
    "Agent",
    "AlreadyPlacedError",
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
    "losses",
    "next_lost",
    "place",
    "presence",
    "replace",
    "sessions",
    "start_directory",
]
