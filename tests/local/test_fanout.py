"""``Fanout``: each copy gets every frame it reads in time, the newest when it falls behind,
and the end; nothing piles up for a reader that does not read, and no task is left."""

from __future__ import annotations

import asyncio
import fractions

import pytest
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import AudioFrame

from transport.local.fanout import Fanout


def _frame(number: int) -> AudioFrame:
    frame = AudioFrame(format="s16", layout="mono", samples=960)
    frame.pts, frame.time_base = number * 960, fractions.Fraction(1, 48_000)
    return frame


class _Source(MediaStreamTrack):
    """A track yielding what the test puts in, and ending at ``None`` (the source to feed from)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.frames: asyncio.Queue[AudioFrame | None] = asyncio.Queue()

    async def recv(self) -> AudioFrame:
        frame = await self.frames.get()
        if frame is None:
            raise MediaStreamError
        return frame


async def test_every_copy_gets_every_frame_it_reads_in_time() -> None:
    fanout = Fanout("audio")
    first, second = fanout.subscribe(), fanout.subscribe()
    assert (first.kind, second.kind) == ("audio", "audio")
    for number in range(3):
        frame = _frame(number)
        fanout.push(frame)
        assert await first.recv() is frame
        assert await second.recv() is frame
    assert fanout.frames == 3


async def test_a_waiting_reader_wakes_with_the_next_frame() -> None:
    fanout = Fanout("audio")
    copy = fanout.subscribe()
    reading = asyncio.ensure_future(copy.recv())
    await asyncio.sleep(0)  # one loop turn: the reader waits now, nothing was pushed
    assert not reading.done()
    frame = _frame(1)
    fanout.push(frame)
    assert await reading is frame


async def test_a_reader_behind_gets_the_newest_frame_and_nothing_piles_up() -> None:
    fanout = Fanout("audio")
    slow = fanout.subscribe()
    frames = [_frame(number) for number in range(100)]
    for frame in frames:
        fanout.push(frame)
    assert await slow.recv() is frames[-1]  # the 99 before it were dropped, not kept
    fanout.push(frames[0])
    assert await slow.recv() is frames[0]


async def test_a_copy_sees_only_frames_after_it_subscribed() -> None:
    fanout = Fanout("audio")
    fanout.push(_frame(0))
    late = fanout.subscribe()
    frame = _frame(1)
    fanout.push(frame)
    assert await late.recv() is frame


async def test_the_end_reaches_every_copy_even_a_waiting_one() -> None:
    fanout = Fanout("video")
    waiting, idle = fanout.subscribe(), fanout.subscribe()
    fanout.push(_frame(0))
    reading = asyncio.ensure_future(fanout.subscribe().recv())
    await asyncio.sleep(0)  # one loop turn: the reader waits now
    fanout.push(None)  # the end, as a decoder hands it on
    assert fanout.ended
    with pytest.raises(MediaStreamError):
        await reading
    with pytest.raises(MediaStreamError):  # the frame it had not read goes with the end
        await waiting.recv()
    assert (waiting.readyState, idle.readyState) == ("ended", "ended")
    fanout.push(_frame(1))  # after the end: ignored
    assert fanout.frames == 1
    after = fanout.subscribe()
    assert after.readyState == "ended"
    with pytest.raises(MediaStreamError):
        await after.recv()


async def test_stopping_a_copy_tells_its_owner_once_and_leaves_the_others() -> None:
    fanout = Fanout("audio")
    stopped: list[str] = []
    gone = fanout.subscribe(lambda: stopped.append("gone"))
    stays = fanout.subscribe(lambda: stopped.append("stays"))
    reading = asyncio.ensure_future(gone.recv())
    await asyncio.sleep(0)  # one loop turn: the reader waits now
    gone.stop()
    gone.stop()
    with pytest.raises(MediaStreamError):  # its waiting reader ends
        await reading
    frame = _frame(0)
    fanout.push(frame)
    assert await stays.recv() is frame
    assert stopped == ["gone"]
    fanout.end()
    assert stopped == ["gone", "stays"]  # the end stops every copy, each telling its owner


async def test_feeding_from_a_track_relays_it_to_its_end_and_leaves_no_task() -> None:
    before = asyncio.all_tasks()
    source = _Source()
    fanout = Fanout("audio")
    fanout.feed_from(source)
    copy = fanout.subscribe()
    frames = [_frame(number) for number in range(3)]
    for frame in frames:
        source.frames.put_nowait(frame)
        assert await copy.recv() is frame
    source.frames.put_nowait(None)  # the source ends
    with pytest.raises(MediaStreamError):
        await copy.recv()
    assert fanout.ended
    await fanout.stop()
    assert asyncio.all_tasks() - before == {asyncio.current_task()} - before


async def test_stop_ends_the_feeding_task_while_the_source_sends_nothing() -> None:
    before = asyncio.all_tasks()
    fanout = Fanout("audio")
    fanout.feed_from(_Source())  # never yields
    copy = fanout.subscribe()
    reading = asyncio.ensure_future(copy.recv())
    await asyncio.sleep(0)  # one loop turn: the reader waits now
    await fanout.stop()
    with pytest.raises(MediaStreamError):
        await reading
    assert asyncio.all_tasks() - before == {asyncio.current_task()} - before
