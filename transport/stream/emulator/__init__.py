"""A Stream emulator for the getstream SDK 4.x: a coordinator and SFUs on 127.0.0.1.

It is an emulator, not Stream: written here from the SDK's own protobuf and
OpenAPI models, it serves what the SDK uses (user upsert, get-or-create, join,
the SFU signaling websocket and twirp RPCs, media relayed through aiortc), so
``StreamEdge`` runs end to end offline. People join as real SDK clients:
``transport.stream.StreamParticipant`` (``StreamEdge.participant()``).
"""

from transport.stream.emulator.room import RoomLimits
from transport.stream.emulator.service import (
    EmulatedSession,
    StreamEmulator,
    StreamEmulatorError,
)
from transport.stream.emulator.sfu_server import EmulatedSfu, SfuLimits

__all__ = [
    "EmulatedSession",
    "EmulatedSfu",
    "RoomLimits",
    "SfuLimits",
    "StreamEmulator",
    "StreamEmulatorError",
]
