"""User-facing errors: one line naming the field at fault and the fix."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class InferboardError(Exception):
    """An error caused by user input or environment, reported without a traceback."""

    def __init__(self, message: str, *, field: str | None = None, fix: str | None = None) -> None:
        self.message = message
        self.field = field
        self.fix = fix
        parts = []
        if field:
            parts.append(f"{field}: ")
        parts.append(message)
        if fix:
            parts.append(f" (fix: {fix})")
        super().__init__("".join(parts))


def from_validation_error(err: ValidationError, *, source: str) -> InferboardError:
    """Turn a pydantic ValidationError into a one-line InferboardError naming the first bad field."""
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(root)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
        fix = "remove it or check its spelling against the JSON Schema"
    elif first["type"] == "missing":
        fix = "add this required field"
    else:
        fix = f"got {first.get('input')!r}"
    more = len(err.errors()) - 1
    if more:
        msg += f" (+{more} more error{'s' if more > 1 else ''})"
    return InferboardError(msg, field=f"{source}: {loc}", fix=fix)


def validated(model: type[M], data: Any, *, source: str) -> M:
    """``data`` validated as ``model``; bad input raises a one-line InferboardError naming ``source`` and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        raise from_validation_error(err, source=source) from None


def validated_all(adapter: TypeAdapter[T], data: Any, *, source: str) -> T:
    """``data`` validated by ``adapter`` (e.g. a list of rows), with the same one-line error as ``validated``."""
    try:
        return adapter.validate_python(data)
    except ValidationError as err:
        raise from_validation_error(err, source=source) from None
