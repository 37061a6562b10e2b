"""The people of ``local_media``: a client process of participants sharing audio and video.

``python -m benchmarks._media_people ORDER`` (ORDER a JSON object: the edge's
``url``, the ``seats`` to take, each a call and a token, and the time ``until``
which to stay) joins each seat as a ``LocalParticipant``, publishes a tone and
a test pattern, stays until ``until`` and leaves; it prints how many joined.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any


async def _visit(url: str, seat: dict[str, str], until: float) -> bool:
    from transport import TrackType
    from transport.local import LocalParticipant

    person = LocalParticipant(url, seat["call"], seat["token"])
    await person.join()
    await person.publish(TrackType.AUDIO)
    await person.publish(TrackType.VIDEO)
    await asyncio.sleep(max(0.0, until - time.time()))  # the host measures meanwhile
    await person.leave()
    return True


async def _people(order: dict[str, Any]) -> int:
    visits = [_visit(order["url"], seat, order["until"]) for seat in order["seats"]]
    limit = order["until"] + 30 - time.time()
    done = await asyncio.wait_for(asyncio.gather(*visits, return_exceptions=True), limit)
    return sum(1 for result in done if result is True)


if __name__ == "__main__":
    print(json.dumps(asyncio.run(_people(json.loads(sys.argv[1])))))
