"""Stream's edge (extra ``stream``): ``StreamEdge`` on the getstream SDK 4.x.

``StreamParticipant`` is a person in a call as a real SDK client;
``transport.stream.emulator`` runs Stream's coordinator and SFUs locally.
"""

from transport.stream.credentials import StreamCredentials
from transport.stream.edge import SfuLinkStateEvent, StreamCall, StreamEdge
from transport.stream.errors import (
    StreamCredentialsError,
    StreamEdgeError,
    StreamJoinError,
    StreamRequestError,
)
from transport.stream.participant import StreamParticipant

__all__ = [
    "SfuLinkStateEvent",
    "StreamCall",
    "StreamCredentials",
    "StreamCredentialsError",
    "StreamEdge",
    "StreamEdgeError",
    "StreamJoinError",
    "StreamParticipant",
    "StreamRequestError",
]
