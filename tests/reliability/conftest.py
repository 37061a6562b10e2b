"""Prints how many cases the fuzzers ran, at the end of the session."""

from __future__ import annotations

import sys
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    fuzz = sys.modules.get("test_fuzz")
    cases = getattr(fuzz, "_cases", None)
    if cases and sum(cases.values()):
        terminalreporter.write_line(
            f"fuzzing: {sum(cases.values())} cases "
            + ", ".join(f"{name} {count}" for name, count in cases.items())
        )
