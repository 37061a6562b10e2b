"""A real headless Chromium joins through the browser page with fake camera and microphone."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from transport import (
    Connection,
    EmptyFor,
    ParticipantJoinedEvent,
    ParticipantLeftEvent,
    TrackAddedEvent,
    TrackPublished,
    TrackType,
)
from transport.local import LocalEdge

sys.path.insert(0, str(Path(__file__).parent))
from browser import CHROMIUM, Browser

# In the page: wait (up to 20 s) for the agent's media to reach the <video id=agent>.
_AGENT_TRACKS_ARRIVE = """
new Promise((resolve, reject) => {
  const started = Date.now();
  const look = () => {
    const stream = document.getElementById("agent").srcObject;
    if (stream && stream.getTracks().length) return resolve(stream.getTracks().map((t) => t.kind));
    if (Date.now() - started > 20000) return reject(new Error("no agent track"));
    requestAnimationFrame(look);
  };
  look();
})
"""

# In the page: wait (up to 20 s) until the page's paused tracks include `id` or not (`paused`).
_PAUSED = """
(id, paused) => new Promise((resolve, reject) => {
  const started = Date.now();
  const look = () => {
    const now = (document.body.dataset.paused || "").split(",").includes(id);
    if (now === paused) return resolve(now);
    if (Date.now() - started > 20000) return reject(new Error("paused: " + now));
    requestAnimationFrame(look);
  };
  look();
})
"""

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed"),
]


async def test_a_browser_joins_publishes_audio_and_video_and_leaves_when_closed(
    edge: LocalEdge, connection: Connection, events: list[Any]
) -> None:
    from transport.local.tracks import ToneTrack

    await edge.publish_track("room", ToneTrack())  # the agent speaks into the call
    browser = Browser()
    await browser.start()
    try:
        page = await browser.open(edge.join_url("room", "carol"))
        await connection.wait_for(TrackPublished(TrackType.AUDIO, user_id="carol"), timeout=60)
        await connection.wait_for(TrackPublished(TrackType.VIDEO, user_id="carol"), timeout=60)
        video = next(t for t in connection.presence.tracks if t.track_type is TrackType.VIDEO)
        paused = f"({_PAUSED})({json.dumps(video.track_id)}, %s)"
        assert await browser.evaluate(page, paused % "true")  # nobody watches: not sent
        subscriber = edge.add_track_subscriber(video.track_id)
        assert subscriber is not None
        frame = await asyncio.wait_for(subscriber.recv(), timeout=30)  # sent again, decodable
        assert frame.width > 0
        assert not await browser.evaluate(page, paused % "false")
        subscriber.stop()
        assert await browser.evaluate(page, paused % "true")  # and paused again
        agent_tracks = await browser.evaluate(page, _AGENT_TRACKS_ARRIVE)
        assert agent_tracks == ["audio"]
        await browser.close_page(page)
        await connection.wait_for(EmptyFor(0), timeout=30)
        await connection.settled()  # every event so far has reached the handler
    finally:
        await browser.close()
    joined = [e for e in events if isinstance(e, ParticipantJoinedEvent)]
    added = [e.track_type for e in events if isinstance(e, TrackAddedEvent)]
    left = [e for e in events if isinstance(e, ParticipantLeftEvent)]
    assert [e.participant.user_id for e in joined] == ["carol"]
    assert sorted(added) == [TrackType.AUDIO, TrackType.VIDEO]
    assert [(e.participant.user_id, e.reason) for e in left] == [("carol", "dropped")]


# In the page: wait (up to 20 s) for a custom event to show, then its text.
_CUSTOM_SHOWN = """
new Promise((resolve, reject) => {
  const started = Date.now();
  const look = () => {
    const box = document.getElementById("custom");
    if (!box.classList.contains("empty")) return resolve(JSON.parse(box.textContent));
    if (Date.now() - started > 20000) return reject(new Error("no custom event"));
    requestAnimationFrame(look);
  };
  look();
})
"""


async def test_the_page_shows_the_agents_last_custom_event(
    edge: LocalEdge, connection: Connection
) -> None:
    browser = Browser()
    await browser.start()
    try:
        page = await browser.open(edge.join_url("room", "gus"))
        await connection.wait_for_participant(timeout=60)
        assert await edge.send_custom_event("room", {"slide": 3, "note": "hé"}) == 1
        assert await browser.evaluate(page, _CUSTOM_SHOWN) == {"slide": 3, "note": "hé"}
        await browser.close_page(page)
    finally:
        await browser.close()


# In the page: the roster list once it shows version `want`, as [participant id, track types].
_ROSTER_AT = """
(want) => new Promise((resolve, reject) => {
  const started = Date.now();
  const look = () => {
    const list = document.getElementById("roster");
    if (list.dataset.version === String(want)) {
      return resolve([...list.querySelectorAll("li[data-participant]")].map(
        (item) => [item.dataset.participant, item.dataset.tracks]));
    }
    if (Date.now() - started > 20000) return reject(new Error("roster " + list.dataset.version));
    requestAnimationFrame(look);
  };
  look();
})
"""


async def test_the_page_and_a_python_participant_end_with_the_same_roster(
    edge: LocalEdge, connection: Connection
) -> None:
    browser = Browser()
    await browser.start()
    try:
        page = await browser.open(edge.join_url("room", "hana"))
        await connection.wait_for(TrackPublished(TrackType.VIDEO, user_id="hana"), timeout=60)
        ivan = edge.participant("room", "ivan")
        await ivan.join()
        passing = edge.participant("room", "jo")  # a snapshot, then deltas: joined, left
        await passing.join()
        await passing.leave()
        roster = edge.roster("room")
        assert roster is not None
        seen = await ivan.wait_for_roster(lambda _: ivan.roster_view.version == roster.version)
        expected = [[e.participant_id, ",".join(str(int(t)) for t in e.tracks)] for e in seen]
        shown = await browser.evaluate(page, f"({_ROSTER_AT})({roster.version})")
        assert shown == expected
        assert [e.user_id for e in seen] == ["hana", "ivan"]
        await ivan.leave()
        await browser.close_page(page)
    finally:
        await browser.close()
