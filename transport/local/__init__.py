"""The local edge (extra ``local``): real WebRTC on this machine with aiohttp and aiortc.

``LocalEdge`` serves signaling, a browser join page and the agent's media;
``LocalParticipant`` joins from Python. See ``transport.local.edge``.
"""

from transport.local.custom import CustomEventError
from transport.local.edge import LocalCall, LocalEdge
from transport.local.participant import FrameRefusedError, LocalParticipant
from transport.local.signaling import MAX_FRAME, SignalingError, SignalingVersionError
from transport.local.tokens import JoinTokens, TokenError

__all__ = [
    "MAX_FRAME",
    "CustomEventError",
    "FrameRefusedError",
    "JoinTokens",
    "LocalCall",
    "LocalEdge",
    "LocalParticipant",
    "SignalingError",
    "SignalingVersionError",
    "TokenError",
]
