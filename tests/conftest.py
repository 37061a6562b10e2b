"""Suite-wide checks: every test leaves no actor running behind it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from actors import directory


@pytest.fixture(autouse=True)
def no_actor_left_behind() -> Iterator[None]:
    """Fail a test that leaves actors registered; unregister them so the next test starts clean."""
    before = {id(ref) for ref in directory.get_all()}
    yield
    leaked = [ref for ref in directory.get_all() if id(ref) not in before]
    for ref in leaked:
        actor = ref._actor_weakref()  # type: ignore[attr-defined]
        if actor is not None:
            directory.unregister(actor)
    assert not leaked, f"{len(leaked)} actors left running, e.g. {leaked[:3]}"
