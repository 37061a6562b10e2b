"""Stream's edge (extra ``stream``): ``StreamEdge`` on the getstream SDK 4.x."""

from transport.stream.credentials import StreamCredentials, StreamCredentialsError
from transport.stream.edge import ConnectionStateChangedEvent, StreamCall, StreamEdge
from transport.stream.sfu import SfuPresence

__all__ = [
    "ConnectionStateChangedEvent",
    "SfuPresence",
    "StreamCall",
    "StreamCredentials",
    "StreamCredentialsError",
    "StreamEdge",
]
