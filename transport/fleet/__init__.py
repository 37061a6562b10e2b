"""Past one machine (extra ``ray``): hosts, a cluster-wide call directory, remote refs.

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
``place_again`` opens its calls again on live hosts (``losses(replace_lost=True)``
does it for every loss); a lost host found alive closes its calls (fencing).
"""

from transport.fleet.call_directory import CallDirectory, start_directory, start_local_cluster
from transport.fleet.host import Agent, EdgeFactory, Host, PresenceView, local_edge
from transport.fleet.refs import (
    AlreadyPlacedError,
    CallsLostEvent,
    FleetFullError,
    RemoteConnectionRef,
    close_call,
    directory_presence,
    lookup,
    losses,
    next_lost,
    place,
    place_again,
    seats_taken,
)

__all__ = [
    "Agent",
    "AlreadyPlacedError",
    "CallsLostEvent",
    "EdgeFactory",
    "FleetFullError",
    "CallDirectory",
    "Host",
    "PresenceView",
    "RemoteConnectionRef",
    "close_call",
    "local_edge",
    "lookup",
    "losses",
    "next_lost",
    "place",
    "directory_presence",
    "place_again",
    "seats_taken",
    "start_directory",
    "start_local_cluster",
]
