"""An agent's custom events reach the call's participants on the local edge: Python and browser."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("vision_agents.core")
pytest.importorskip("aiortc")

from minimal_agent import make_agent
from vision_agents.core import Agent

from transport.local import CustomEventError, LocalEdge
from transport.local.signaling import MAX_CUSTOM_EVENT

sys.path.insert(0, str(Path(__file__).parent.parent / "local"))
from browser import CHROMIUM, Browser

LIMIT = 15.0

# In the page: wait (up to 20 s) until the custom event shown has slide 3, then its JSON.
_SLIDE_3_SHOWN = """
new Promise((resolve, reject) => {
  const started = Date.now();
  const look = () => {
    const box = document.getElementById("custom");
    const shown = box.classList.contains("empty") ? null : JSON.parse(box.textContent);
    if (shown && shown.slide === 3) return resolve(shown);
    if (Date.now() - started > 20000) return reject(new Error("shown: " + box.textContent));
    requestAnimationFrame(look);
  };
  look();
})
"""


@pytest.fixture
async def edge() -> AsyncIterator[LocalEdge]:
    async with LocalEdge() as edge:
        yield edge


@pytest.fixture
async def agent(edge: LocalEdge) -> AsyncIterator[Agent]:
    """An agent in call ``custom``, with participant ``fay`` there before it."""
    agent = make_agent(edge)
    person = edge.participant("custom", "fay")
    await person.join()
    async with agent.join(await agent.edge.create_call("custom"), participant_wait_timeout=LIMIT):
        agent.person = person  # type: ignore[attr-defined]
        yield agent
    await person.leave()


async def test_a_custom_event_reaches_a_python_participant(agent: Agent) -> None:
    await agent.send_custom_event({"kind": "note", "text": "hello"})
    received = await asyncio.wait_for(agent.person.custom_event(), LIMIT)  # type: ignore[attr-defined]
    assert received == {"kind": "note", "text": "hello"}


@pytest.mark.parametrize(
    ("data", "why"),
    [
        ({"big": "x" * MAX_CUSTOM_EVENT}, f"at most {MAX_CUSTOM_EVENT} bytes"),
        (["not", "an", "object"], "a JSON object"),
        ({"when": object()}, "JSON-encodable"),
    ],
)
async def test_a_custom_event_that_may_not_go_out_is_refused(
    agent: Agent, data: Any, why: str
) -> None:
    with pytest.raises(CustomEventError, match=why):
        await agent.edge.send_custom_event(data)


async def test_a_custom_event_of_exactly_the_cap_goes_out(agent: Agent) -> None:
    overhead = len(b'{"fill":""}')
    data = {"fill": "x" * (MAX_CUSTOM_EVENT - overhead)}
    await agent.edge.send_custom_event(data)
    received = await asyncio.wait_for(agent.person.custom_event(), LIMIT)  # type: ignore[attr-defined]
    assert received == data


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
async def test_the_page_shows_the_agents_last_custom_event(edge: LocalEdge) -> None:
    agent = make_agent(edge)
    browser = Browser()
    await browser.start()
    try:
        page = await browser.open(edge.join_url("paged", "gus"))
        call = await agent.edge.create_call("paged")
        async with agent.join(call, participant_wait_timeout=60):  # gus's page has joined
            await agent.send_custom_event({"slide": 2})
            await agent.send_custom_event({"slide": 3, "note": "hé"})
            assert await browser.evaluate(page, _SLIDE_3_SHOWN) == {"slide": 3, "note": "hé"}
            await browser.close_page(page)
    finally:
        await browser.close()
