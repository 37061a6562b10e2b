"""pykka's own test suite, run on ``AsyncioActor`` beside pykka's threading runtime.

The suite comes from the pykka source distribution that matches the installed
pykka, fetched from the package index into a cache folder outside the
repository; ``tests/pykka/edge_actors_runtime.py`` adds our runtime to it.
Every test must pass except those listed, with their reasons, in that plugin's
``EXPECTED_DIFFERENCES`` (xfail, strict).
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
PLUGIN_DIR = REPO / "tests" / "pykka"


def _pykka_sources() -> Path:
    """The unpacked sdist of the installed pykka (downloaded once per machine)."""
    version = importlib.metadata.version("pykka")
    cache = Path(tempfile.gettempdir()) / f"edge-actors-pykka-{version}"
    root = cache / f"pykka-{version}"
    if (root / "tests" / "conftest.py").exists():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    download = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            f"pykka=={version}",
            "--dest",
            str(cache),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    archives = sorted(cache.glob(f"pykka-{version}.tar.gz"))
    if download.returncode != 0 or not archives:
        pytest.fail(
            f"could not fetch pykka {version}'s source distribution from the package index "
            f"(needed to run pykka's own tests): {download.stderr.strip()[-500:]}"
        )
    with tarfile.open(archives[0]) as archive:
        archive.extractall(cache, filter="data")
    return root


def test_pykka_suite_passes_on_asyncio_actor() -> None:
    pytest.importorskip("pytest_mock", reason="pykka's suite needs pytest-mock (dev extra)")
    sources = _pykka_sources()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(PLUGIN_DIR), str(sources)])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "edge_actors_runtime",
            "-p",
            "no:asyncio",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:randomly",  # pykka's suite runs in its own order (one of its tests needs that)
            "-q",
            "-rfE",
            "tests",
        ],
        cwd=sources,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, f"pykka's suite on AsyncioActor failed:\n{run.stdout[-4000:]}"
    ours = re.search(r"edge-actors asyncio runtime: (.*)", run.stdout)
    assert ours is not None, run.stdout[-2000:]
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", ours.group(1))}
    assert counts.get("passed", 0) > 0
    assert set(counts) <= {"passed", "xfailed"}, ours.group(0)
    print(f"pykka's suite: {run.stdout.strip().splitlines()[-1]}; {ours.group(0)}")
