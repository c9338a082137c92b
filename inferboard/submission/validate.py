"""Run every registered check on a bundle: the report (accepted or not, each check's result) and the load points
the ``invalid`` checks mark."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from inferboard.core.errors import InferboardError
from inferboard.submission.bundle import Bundle, Unreadable
from inferboard.submission.checks.history import against_dirs
from inferboard.submission.registry import Check, Finding, all_checks

#: a reason shows this many findings at most ("; and N more"), cut at this many characters: one short line
MAX_FINDINGS_SHOWN = 10
MAX_REASON_CHARS = 2000


@dataclass
class CheckResult:
    """One check's outcome on one bundle."""

    id: str
    severity: str
    ok: bool
    findings: list[Finding] = field(default_factory=list)
    skipped: str | None = None  # why it did not run

    crashed: bool = False  # it could not run on this bundle: counts as an error whatever its severity

    @property
    def reason(self) -> str | None:
        """Its findings on one line, every control or format character (newline, escape, bidi override) shown
        escaped: a reason quotes the bundle's own text and reaches terminals, Markdown and HTML."""
        if self.skipped:
            return self.skipped
        shown = self.findings[:MAX_FINDINGS_SHOWN]
        more = len(self.findings) - len(shown)
        text = "; ".join(f.text() for f in shown) + (f"; and {more} more" if more else "")
        return inert(text[:MAX_REASON_CHARS]) or None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "ok": self.ok, "severity": self.severity, "reason": self.reason}


@dataclass
class Report:
    """What the checker says of one bundle."""

    bundle: str
    results: list[CheckResult]

    @property
    def accepted(self) -> bool:
        return all(r.ok or (r.severity != "error" and not r.crashed) for r in self.results)

    def invalid_points(self) -> dict[tuple[str, int | None], list[str]]:
        """(cell id, load point or None for every point) → the reasons the ``invalid`` checks give."""
        out: dict[tuple[str, int | None], list[str]] = {}
        for r in self.results:
            if r.severity == "invalid":
                for f in r.findings:
                    if f.cell:
                        out.setdefault((f.cell, f.point), []).append(f"{r.id}: {inert(f.reason)}")
        return out

    def as_json(self) -> dict[str, Any]:
        return {"accepted": self.accepted, "checks": [r.as_json() for r in self.results]}

    def lines(self) -> list[str]:
        """``CHECK_ID: reason`` for every check that did not pass."""
        return [f"{r.id}: {r.reason}" for r in self.results if not r.ok]


def inert(text: str) -> str:
    """``text`` with every control and format character (Unicode Cc, Cf) written as an escape."""
    return "".join(c if unicodedata.category(c) not in ("Cc", "Cf") else repr(c)[1:-1] for c in text)


def _run(c: Check, b: Bundle) -> CheckResult:
    try:
        findings = list(c.func(b))
    except Unreadable as err:
        return CheckResult(c.id, c.severity, ok=False, findings=[Finding(f"cannot check: {err}")], crashed=True)
    except Exception as err:  # a bundle must never crash the checker: any failure is a reason
        why = f"cannot check: malformed content ({type(err).__name__}: {str(err)[:200]})"
        return CheckResult(c.id, c.severity, ok=False, findings=[Finding(why)], crashed=True)
    return CheckResult(c.id, c.severity, ok=not findings, findings=findings)


def validate(root: Path, *, against: Path | None = None, extra_against: list[Path] | None = None) -> Report:
    """Check the bundle folder ``root``; ``against``: the folder of accepted bundles (duplicates)."""
    if not root.is_dir() or root.is_symlink():
        raise InferboardError(f"{root} is not a bundle folder", field="BUNDLE", fix="give data/submissions/<id>")
    return run_checks(Bundle(root, against=[*against_dirs(against), *(extra_against or [])]))


def run_checks(b: Bundle) -> Report:
    """Every registered check on ``b``, in order; the content checks only when every files check passed."""
    results: list[CheckResult] = []
    files_ok = True
    for c in all_checks():
        if c.stage == "content" and not files_ok:
            results.append(CheckResult(c.id, c.severity, ok=False, skipped="not run: a file check failed"))
            continue
        res = _run(c, b)
        results.append(res)
        if c.stage == "files" and not res.ok:
            files_ok = False
    return Report(b.id, results)
