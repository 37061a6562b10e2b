"""Stream's edge (extra ``stream``): ``StreamEdge`` on the getstream SDK 4.x."""

from transport.stream.credentials import StreamCredentials, StreamCredentialsError
from transport.stream.edge import SfuLinkStateEvent, StreamCall, StreamEdge
from transport.stream.sfu import SfuPresence

__all__ = [
    "SfuLinkStateEvent",
    "SfuPresence",
    "StreamCall",
    "StreamCredentials",
    "StreamCredentialsError",
    "StreamEdge",
]
