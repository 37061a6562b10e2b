"""The pykka and asyncio internals in ``actors/_compat.py`` still are what we rely on.

If a pykka release changes one, this test names it, before anything subtler breaks.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import inspect
import queue
import threading
from typing import Any

import pykka
import pytest

from actors import _compat


def test_pykka_is_a_version_this_runtime_was_checked_against() -> None:
    major, minor = (int(part) for part in importlib.metadata.version("pykka").split(".")[:2])
    assert (major, minor) >= (4, 5), "actors/_compat.py was checked against pykka 4.5"
    assert major < 5, "pykka 5 may change the actor-type extension points: check _compat.py"


def test_an_envelope_carries_a_message_and_its_reply_future() -> None:
    future: pykka.Future[int] = pykka.ThreadingFuture()
    envelope = _compat.Envelope("hello", reply_to=future)
    assert envelope.message == "hello"
    assert envelope.reply_to is future


def test_stop_sends_pykkas_stop_message_in_an_envelope() -> None:
    inbox: queue.Queue[object] = queue.Queue()

    class Probe(pykka.ThreadingActor):
        pass

    ref = Probe.start()
    try:
        real_inbox = ref.actor_inbox
        ref.actor_inbox = inbox  # type: ignore[misc]  # see what stop() puts there
        ref.stop(block=False)
        envelope = inbox.get_nowait()
        assert isinstance(envelope, _compat.Envelope)
        assert isinstance(envelope.message, _compat.ActorStop)
    finally:
        ref.actor_inbox = real_inbox  # type: ignore[misc]
        ref.stop()


def test_pykkas_get_hook_marker_is_what_its_futures_start_with() -> None:
    future: pykka.ThreadingFuture[int] = pykka.ThreadingFuture()
    assert type(future._get_hook_result) is type(_compat.UNSET_HOOK_RESULT)  # noqa: SLF001


async def test_running_loop_is_the_loop_of_this_thread_or_none() -> None:
    assert _compat.running_loop() is asyncio.get_running_loop()
    assert await asyncio.to_thread(_compat.running_loop) is None


def _loop_thread_while_running_and_after(new_loop: Any) -> tuple[int | None, int | None]:
    """``loop_thread(loop)._thread_id`` while ``loop`` runs, and after it has returned."""
    loop = new_loop()
    try:
        thread = _compat.loop_thread(loop)

        async def read() -> int | None:
            return thread._thread_id  # noqa: SLF001

        during = loop.run_until_complete(read())
        return during, thread._thread_id  # noqa: SLF001
    finally:
        loop.close()


def test_loop_thread_names_the_thread_running_an_asyncio_loop_and_none_after() -> None:
    during, after = _loop_thread_while_running_and_after(asyncio.new_event_loop)
    assert during == threading.get_ident()
    assert after is None


def test_loop_thread_of_a_loop_without_the_field_asks_the_running_loop() -> None:
    uvloop = pytest.importorskip("uvloop")
    during, after = _loop_thread_while_running_and_after(uvloop.new_event_loop)
    assert during == threading.get_ident()
    assert after is None


async def test_loop_thread_of_a_loop_running_elsewhere_is_not_this_thread() -> None:
    thread = _compat.loop_thread(asyncio.get_running_loop())
    elsewhere = await asyncio.to_thread(lambda: threading.get_ident())
    assert thread._thread_id != elsewhere  # noqa: SLF001
    assert _compat.NOWHERE._thread_id is None  # noqa: SLF001


def test_every_name_compat_lists_is_the_kind_of_thing_it_says() -> None:
    assert isinstance(_compat.Envelope, type)
    assert isinstance(_compat.ActorStop, type)
    missing = [name for name in _compat.__all__ if not hasattr(_compat, name)]
    assert missing == []
    assert _compat.running_loop() is None  # no loop runs in this (sync) test's thread


@pytest.mark.parametrize(
    "name",
    [
        "_create_actor_inbox",
        "_create_future",
        "_start_actor_loop",
        "_handle_receive",
        "_handle_failure",
        "_stop",
    ],
)
def test_pykka_still_has_the_actor_hooks_asyncio_actor_overrides(name: str) -> None:
    assert callable(getattr(pykka.Actor, name, None)), f"pykka.Actor.{name} is gone"


def test_pykka_refs_still_reach_their_actor_through_actor_weakref() -> None:
    assert "_actor_weakref" in pykka.ActorRef.__init__.__code__.co_names


def test_aiortcs_senders_still_take_the_audio_level_through_the_rtp_module() -> None:
    sender = pytest.importorskip("aiortc.rtcrtpsender")
    code = sender.RTCRtpSender._next_encoded_frame.__code__  # noqa: SLF001
    assert "compute_audio_level_dbov" in code.co_names, "replace_aiortc_audio_level no longer acts"
    assert callable(_compat.aiortc_audio_level())


def test_aiortcs_audio_senders_and_receivers_keep_what_the_inline_audio_path_replaces() -> None:
    pytest.importorskip("aiortc")
    from aiortc import rtcrtpreceiver
    from aiortc.rtcrtpreceiver import RTCRtpReceiver
    from aiortc.rtcrtpsender import RTCRtpSender

    assert callable(rtcrtpreceiver.decoder_worker)
    source = inspect.getsource(rtcrtpreceiver)
    assert "target=decoder_worker" in source  # looked up when receive() starts the thread
    assert "self.__decoder_queue," in source
    sender_names = RTCRtpSender._next_encoded_frame.__code__.co_names  # noqa: SLF001
    assert "_RTCRtpSender__loop" in sender_names
    assert "run_in_executor" in sender_names
    receiver_names = RTCRtpReceiver._handle_rtp_packet.__code__.co_names  # noqa: SLF001
    assert "_RTCRtpReceiver__decoder_queue" in receiver_names


async def test_an_audio_sender_made_after_the_switch_encodes_on_its_loop() -> None:
    pytest.importorskip("aiortc")
    from aiortc import RTCPeerConnection

    _compat.encode_and_decode_audio_on_the_loop()
    pc = RTCPeerConnection()
    try:
        audio = pc.addTransceiver("audio").sender
        video = pc.addTransceiver("video").sender
        assert type(audio._RTCRtpSender__loop).__name__ == "_InlineExecutor"  # noqa: SLF001
        assert video._RTCRtpSender__loop is asyncio.get_running_loop()  # noqa: SLF001
    finally:
        await pc.close()


async def test_aiortcs_receivers_keep_what_a_decode_gate_reads() -> None:
    pytest.importorskip("aiortc")
    from aiortc import RTCPeerConnection
    from aiortc.rtcrtpreceiver import RemoteStreamTrack

    pc = RTCPeerConnection()
    try:
        receiver = pc.addTransceiver("video").receiver
        assert receiver._RTCRtpReceiver__kind == "video"  # noqa: SLF001
        assert receiver._RTCRtpReceiver__started is False  # noqa: SLF001
        assert receiver._RTCRtpReceiver__remote_streams == {}  # noqa: SLF001  # SSRC: stats
        assert receiver._track is None  # noqa: SLF001  # a RemoteStreamTrack once negotiated
        assert isinstance(RemoteStreamTrack(kind="video")._queue, asyncio.Queue)  # noqa: SLF001
        assert inspect.iscoroutinefunction(receiver._send_rtcp_pli)  # noqa: SLF001
        assert list(inspect.signature(receiver._send_rtcp_pli).parameters) == ["media_ssrc"]  # noqa: SLF001
    finally:
        await pc.close()
