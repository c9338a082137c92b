"""The submission checker's registry: one small named function per check, its docstring saying what it checks.

A check takes the bundle (``submission.bundle.Bundle``, read-only and capped) and yields ``Finding``\\ s: none
means it passed. ``severity`` says what a finding does: ``error`` rejects the bundle; ``invalid`` keeps it and
marks the cell's rows invalid with the reason (the right outcome for a measurement that is real but not
rankable: errors, a saturated client, above the roofline). ``stage`` orders them: the ``files`` checks look only
at names, sizes and bytes; the ``content`` checks parse files and run only when every ``files`` check passed.
Everything that lists the checks (``inferboard validate``, the site's submit page) derives from ``CHECKS``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from inferboard.submission.bundle import Bundle

Severity = Literal["error", "invalid"]
Stage = Literal["files", "content"]


@dataclass(frozen=True)
class Finding:
    """One thing a check found wrong; ``cell`` names the cell it concerns (None: the whole bundle) and ``point``
    the load point (None: the whole cell)."""

    reason: str
    cell: str | None = None
    point: int | None = None

    def text(self) -> str:
        where = f"{self.cell} point {self.point}" if self.point is not None else self.cell
        return f"{where}: {self.reason}" if where else self.reason


CheckFunc = Callable[["Bundle"], Iterable[Finding]]


@dataclass(frozen=True)
class Check:
    """A registered check: its id (``area.what``), severity, stage and function."""

    id: str
    severity: Severity
    stage: Stage
    func: CheckFunc

    @property
    def doc(self) -> str:
        """What the check verifies: its function's docstring, on one line."""
        doc = inspect.getdoc(self.func)
        return " ".join(doc.split()) if doc else ""


#: every check, in the order they run
CHECKS: dict[str, Check] = {}


def check(check_id: str, *, severity: Severity = "error", stage: Stage = "content") -> Callable[[CheckFunc], CheckFunc]:
    """Register ``func`` as the check ``check_id``."""

    def register(func: CheckFunc) -> CheckFunc:
        if check_id in CHECKS:
            raise ValueError(f"check {check_id} registered twice")
        if not func.__doc__:
            raise ValueError(f"check {check_id} needs a docstring saying what it checks")
        CHECKS[check_id] = Check(check_id, severity, stage, func)
        return func

    return register


def all_checks() -> list[Check]:
    """Every registered check (the check modules imported), files stage first."""
    import inferboard.submission.checks  # noqa: F401 - registers them

    return sorted(CHECKS.values(), key=lambda c: c.stage != "files")
