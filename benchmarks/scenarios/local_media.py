"""local_media: participants sharing audio and video through the local edge, per host core.

N participants join a call on a ``LocalEdge`` and each publishes a tone and a
test pattern; the agent subscribes to every audio track, and in the ``+video``
rows to every video track too. In the ``separate`` rows the participants run
in another process, so the CPU measured is the edge's own; the ``one-process``
row keeps the earlier figure, participants and edge in one process. Over a
fixed window the host's CPU gives participants per core. The edge decodes a
track only while someone subscribes to it and has the video nobody watches
paused at its sender, so the agent that listens without watching pays for no
video (``audio_only_vs_video``). The ``as filed`` row runs the same
measurement on the library as it was when the media issue was filed (commit
``FILED``, which decoded every track it received), taken from the git history
into a directory of its own, and runs today's beside it over the same window
(``beside_cpu_ms_per_s_per_participant``): ``audio_only_vs_filed`` is what
listening costs now against then, both measured at once, so a machine that
runs slower for a minute slows both.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._measure import cpu_seconds, local_edge_missing

NAME = "local_media"
TARGETS: dict[str, tuple[str, str, float]] = {
    "audio_only_vs_filed": (
        "host CPU per participant, agent listening only: now / the edge as filed",
        "<=",
        0.4,
    ),
}
FILED = "254b8aa"
"""The last commit before the media issue's work: its edge decoded every track it received."""
ROOT = Path(__file__).resolve().parents[2]
"""This checkout: its git history holds ``FILED``, and its benchmarks run both hosts."""
NOTES = [
    "separate: participants in another process (the edge's own CPU); one-process: both in one",
    "every participant shares audio and video; the agent subscribes to audio (+video: and video)",
    f"as filed: the separate audio row on the library at {FILED}, from the git history,",
    "  with today's run beside it over the same window (beside_cpu_ms_per_s_per_participant)",
]
AS_FILED = "separate audio, as filed"
MODES = ("separate audio", "separate +video", "one-process +video", AS_FILED)


def available() -> str | None:
    """Why this scenario cannot run here, or ``None``."""
    return local_edge_missing()


def points(quick: bool) -> list[dict[str, Any]]:
    """The points to measure; smaller and shorter when ``quick``."""
    sizes = [2, 4] if quick else [2, 4, 8]
    hold = 3.0 if quick else 6.0
    return [{"mode": mode, "participants": n, "hold_s": hold} for n in sizes for mode in MODES]


def run(point: dict[str, Any]) -> dict[str, Any]:
    """Measure one point (in a fresh worker process: the host)."""
    mode: str = point["mode"]
    if mode == AS_FILED:
        return _run_as_filed(point)
    n, hold, at = point["participants"], point["hold_s"], point.get("at")
    return asyncio.run(_run(n, hold, mode.startswith("separate"), "+video" in mode, at))


async def _run(
    n: int, hold: float, separate: bool, watch: bool, at: float | None = None
) -> dict[str, Any]:
    """One host: its edge, an agent and ``n`` people; measured from ``at`` (a time.time()) on."""
    from transport import TrackAddedEvent, TrackType, User
    from transport.local import LocalEdge

    async with LocalEdge() as edge:
        await edge.join(User("agent"), await edge.create_call("bench"))
        frames = {"audio": 0, "video": 0}
        readers: list[asyncio.Task[None]] = []

        async def read(track: Any, kind: str) -> None:
            while True:
                await track.recv()
                frames[kind] += 1

        @edge.events.subscribe
        async def added(event: TrackAddedEvent) -> None:
            if event.track_type is TrackType.AUDIO or watch:
                kind = "audio" if event.track_type is TrackType.AUDIO else "video"
                track = edge.add_track_subscriber(event.track_id)
                readers.append(asyncio.ensure_future(read(track, kind)))

        # Joins and negotiations take a while each; ``at`` lines two hosts' windows up.
        window = (time.time() if at is None else at) + 3.0 + 0.5 * n
        people: Any = None
        if separate:
            seats = [{"call": "bench", "token": edge.token("bench", f"p{i}")} for i in range(n)]
            order = {"url": edge.url, "seats": seats, "until": window + hold}
            people = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "benchmarks._media_people",
                json.dumps(order),
                stdout=asyncio.subprocess.PIPE,
            )
        else:
            locals_ = [edge.participant("bench", f"p{i}") for i in range(n)]
            for person in locals_:
                await person.join()
                await person.publish(TrackType.AUDIO)
                await person.publish(TrackType.VIDEO)
        await asyncio.sleep(max(0.0, window - time.time()))  # the window is fixed in advance
        seen = dict(frames)
        cpu, began = cpu_seconds(), time.time()
        await asyncio.sleep(hold)  # a measuring window of fixed length, not a wait for state
        wall, used = time.time() - began, cpu_seconds() - cpu
        heard = {kind: (frames[kind] - seen[kind]) / wall / n for kind in frames}
        if people is not None:
            await people.communicate()
        else:
            for person in locals_:
                await person.leave()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    cores = used / wall
    return {
        "cpu_cores": cores,
        "cpu_ms_per_s_per_participant": cores * 1e3 / n,
        "participants_per_core": n / cores if cores else 0.0,
        "audio_fps_per_participant": heard["audio"],
        "video_fps_per_participant": heard["video"],
    }


def _run_as_filed(point: dict[str, Any]) -> dict[str, Any]:
    """The ``separate audio`` point on the library at ``FILED``, and today's beside it."""
    tree = _filed_tree()
    if tree is None:
        return {"error": f"no git history here to take the library at {FILED} from"}
    at = time.time() + 1.0  # both hosts start now; their windows begin and end together
    now = {**point, "mode": "separate audio", "at": at}
    # From inside the tree, so that its actors, messages and transport are the ones imported
    # (the current directory comes first on the path) and the benchmarks are this checkout's
    # (on PYTHONPATH, after it); the people's process starts there too. Its log goes to a
    # file: a pipe nobody reads while today's host runs could fill and stall it.
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    with tempfile.TemporaryFile("w+") as log:
        filed = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._worker", NAME, json.dumps(now)],
            cwd=tree,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        try:
            beside = asyncio.run(_run(point["participants"], point["hold_s"], True, False, at))
            out, _ = filed.communicate(timeout=200)
        finally:
            if filed.poll() is None:
                filed.kill()
                filed.communicate()
        if filed.returncode != 0:
            log.seek(0)
            lines = log.read().strip().splitlines()
            return {"error": lines[-1] if lines else f"exit status {filed.returncode}"}
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["beside_cpu_ms_per_s_per_participant"] = beside["cpu_ms_per_s_per_participant"]
    return result


def _filed_tree() -> Path | None:
    """A directory with the library at ``FILED`` (and nothing else); ``None`` without git."""
    tree = Path(tempfile.gettempdir()) / f"edge-actors-{FILED}"
    if not (tree / "transport").is_dir():
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", FILED, "actors", "messages", "transport"],
            capture_output=True,
            check=False,
        )
        if archive.returncode != 0:
            return None
        staging = Path(tempfile.mkdtemp(prefix=f"edge-actors-{FILED}-"))
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(staging, filter="data")
        with contextlib.suppress(OSError):  # another run made it meanwhile: use that one
            staging.rename(tree)  # whole or not at all
        shutil.rmtree(staging, ignore_errors=True)
        if not (tree / "transport").is_dir():
            return None
    stale = tree / "benchmarks"  # earlier runs linked some checkout's benchmarks in
    if stale.is_symlink():
        stale.unlink(missing_ok=True)
    return tree


def summarize(results: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    """Results by mode and size; each ratio at the largest size both of its rows reached."""
    by: dict[str, dict[str, Any]] = {mode: {} for mode in MODES}
    for point, result in results:
        by[point["mode"]][str(point["participants"])] = result
    both = set(by["separate audio"]) & set(by["separate +video"])
    ratios: dict[str, float] = {}
    headline: dict[str, Any] = {}
    if both:
        size = max(both, key=int)
        listening, watching = by["separate audio"][size], by["separate +video"][size]
        per = "cpu_ms_per_s_per_participant"
        if watching[per]:
            ratios["audio_only_vs_video"] = listening[per] / watching[per]
        headline = listening
    filed = [size for size, r in by[AS_FILED].items() if "beside_cpu_ms_per_s_per_participant" in r]
    if filed:
        then = by[AS_FILED][max(filed, key=int)]
        if then["cpu_ms_per_s_per_participant"]:
            ratios["audio_only_vs_filed"] = (
                then["beside_cpu_ms_per_s_per_participant"] / then["cpu_ms_per_s_per_participant"]
            )
    return {"results": by, "ratios": ratios, "headline": headline}
