"""The coordinator's JSON, shaped by the SDK's own OpenAPI models (``getstream.models``).

``api_object(Model, **values)`` is a JSON object with every field ``Model``
requires (empty values of the field's type: ``""``, ``0``, ``false``, ``[]``,
``{}``, nested objects filled the same way, timestamps as the nanoseconds the
API sends) and ``values`` on top, keyed by the JSON names the model declares.
So a response carries what the SDK decodes, and a new required field in an
SDK release shows up filled instead of breaking the emulator.
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import time
import typing
from typing import Any

__all__ = ["api_object", "json_name"]


def json_name(field: dataclasses.Field[Any]) -> str:
    """The JSON key of a model field (its ``dataclasses_json`` name, else its own)."""
    config = field.metadata.get("dataclasses_json", {})
    rename = config.get("letter_case")
    return str(rename(field.name)) if callable(rename) else field.name


@functools.cache
def _required(model: type) -> tuple[tuple[str, Any], ...]:
    hints = typing.get_type_hints(model)
    return tuple(
        (json_name(field), hints[field.name])
        for field in dataclasses.fields(model)
        if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    )


def _empty(kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin is typing.Union:
        return None
    if origin is list:
        return []
    if origin is dict:
        return {}
    if kind is datetime.datetime:
        return time.time_ns()
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        return api_object(kind)
    return {bool: False, int: 0, float: 0.0, str: ""}.get(kind)


def api_object(model: type, **values: Any) -> dict[str, Any]:
    """``model``'s required fields, empty, with ``values`` (JSON names) on top."""
    body = {name: _empty(kind) for name, kind in _required(model) if name not in values}
    body.update(values)
    return body
