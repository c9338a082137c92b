"""The deterministic plan of a cell: prompts, lengths, arrival offsets and think times per load point.

The same workload, tokenizer, seed and trial give the same plan and so the same ``schedule_hash``. A session's
lengths and think times depend only on (seed, session), so every load point and trial sends the same shapes;
arrival gaps are unit-mean gamma draws scaled by 1/rate, so a rate sweep replays one normalised pattern. Prompt
text is drawn per (seed, trial, load point, session): runtimes cache prompts (vLLM's prefix cache, llama-server's
prompt cache), so a point or trial that resent earlier prompts would measure cache hits, not the load.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import canonical_json
from inferboard.scenario.prompts import PromptTokenizer, joined_text
from inferboard.scenario.trace import read_trace
from inferboard.scenario.trace_dataset import TraceDataset
from inferboard.scenario.workload import (
    FixedDataset,
    LognormalDataset,
    MultiTurnDataset,
    PhasesLoad,
    PrefixGroupsDataset,
    RateLoad,
    SearchLoad,
    TraceLoad,
    Workload,
)


@dataclass(frozen=True, slots=True)
class PlannedTurn:
    """One request: its content, token targets and the think time that precedes it."""

    prompt: str | None  # completions API
    messages: tuple[dict[str, str], ...] | None  # chat API
    prompt_tokens_target: int
    max_tokens: int
    think_time_s: float = 0.0

    def hash_fields(self) -> list[Any]:
        content = self.prompt if self.prompt is not None else canonical_json(list(self.messages or ()))
        if isinstance(content, str):
            content = content.encode()
        return [hashlib.sha256(content).hexdigest(), self.prompt_tokens_target, self.max_tokens,
                round(self.think_time_s * 1e9)]


@dataclass(frozen=True, slots=True)
class PlannedSession:
    """A unit of arrival: one request, or one multi-turn conversation."""

    session_id: int
    arrival_s: float | None  # offset from load-point start (open loop); None in closed loop
    turns: tuple[PlannedTurn, ...]
    target: str | None = None  # the model its requests address (a traffic split's target); None: the served one


@dataclass(frozen=True, slots=True)
class LoadPointPlan:
    """What to send at one load point of a sweep."""

    index: int
    kind: str  # "concurrency" | "rate" | "phases" | "search"
    value: float
    burstiness: float | None
    max_concurrency: int | None
    sessions: tuple[PlannedSession, ...]
    warmup_requests: int
    requests: int
    duration_s: float | None
    schedule_hash: str = field(default="")

    @property
    def total_requests(self) -> int:
        return self.warmup_requests + self.requests


@dataclass(frozen=True, slots=True)
class CellPlan:
    """Every load point of one trial of a cell and the hash over all of them."""

    points: tuple[LoadPointPlan, ...]  # none for a search load: its probes are planned as it runs (probe_point)
    schedule_hash: str
    trial: int = 0


def _rng(seed: int, *stream: int) -> np.random.Generator:
    """The random stream ``stream`` of ``seed``: (1, session) lengths and think times, (2,) arrival gaps,
    (3, group, trial, point) a prefix group's text, (4, phase) a phase's arrivals, (5,) split targets,
    (6, trial, point, session) a session's prompt text."""
    return np.random.default_rng([seed & 0xFFFFFFFF, *stream])


@dataclass(frozen=True, slots=True)
class Variant:
    """Which prompts a load point sends: its trial's and its own (``_rng`` stream 6)."""

    trial: int
    point: int

    def text_rng(self, seed: int, sid: int) -> np.random.Generator:
        return _rng(seed, 6, self.trial, self.point, sid)


def _clamped_lognormal(rng: np.random.Generator, median: int, sigma: float, lo: int, hi: int) -> int:
    return int(min(hi, max(lo, round(float(rng.lognormal(math.log(median), sigma))))))


SingleTurn = FixedDataset | LognormalDataset | TraceDataset


def _lengths(ds: SingleTurn, seed: int, sid: int) -> tuple[int, int]:
    """(input, output) tokens of single-turn session ``sid``: the same at every load point and trial."""
    if isinstance(ds, FixedDataset):
        return ds.input_tokens, ds.output_tokens
    if isinstance(ds, TraceDataset):
        row = read_trace(ds)[sid]
        return row.input_tokens, row.output_tokens
    rng = _rng(seed, 1, sid)
    n_in = _clamped_lognormal(rng, ds.input_median, ds.input_sigma, ds.input_min, ds.input_max)
    return n_in, _clamped_lognormal(rng, ds.output_median, ds.output_sigma, ds.output_min, ds.output_max)


def _single_turn(api: str, text: str, n_in: int, n_out: int) -> tuple[PlannedTurn, ...]:
    if api == "chat":
        return (PlannedTurn(None, ({"role": "user", "content": text},), n_in, n_out),)
    return (PlannedTurn(text, None, n_in, n_out),)


def _single_turn_sessions(w: Workload, tok: PromptTokenizer, n_sessions: int,
                          variant: Variant) -> list[tuple[PlannedTurn, ...]]:
    """Every session of a single-turn dataset, their prompts synthesized together (``texts_of``): the same
    sessions as one at a time (each from its own generator), several times faster."""
    assert isinstance(w.dataset, SingleTurn)
    wanted, lengths = [], []
    for sid in range(n_sessions):
        n_in, n_out = _lengths(w.dataset, w.seed, sid)
        wanted.append((n_in, variant.text_rng(w.seed, sid)))
        lengths.append((n_in, n_out))
    texts = tok.texts_of(wanted)
    return [_single_turn(w.api, t, n_in, n_out) for t, (n_in, n_out) in zip(texts, lengths, strict=True)]


def _turns_for_session(w: Workload, tok: PromptTokenizer, sid: int, prefixes: list[tuple[str, int]],
                       variant: Variant) -> tuple[PlannedTurn, ...]:
    """The turns of session ``sid`` of a prefix-group or multi-turn dataset."""
    ds, api = w.dataset, w.api
    text = variant.text_rng(w.seed, sid)
    if isinstance(ds, PrefixGroupsDataset):
        prefix, n_prefix = prefixes[sid % ds.groups]
        suffix, full = joined_text(tok, prefix, n_prefix, ds.suffix_tokens, text)
        if api == "chat":
            msgs = ({"role": "system", "content": prefix}, {"role": "user", "content": suffix})
            return (PlannedTurn(None, msgs, n_prefix + tok.count(suffix), ds.output_tokens),)
        return (PlannedTurn(full, None, tok.count(full), ds.output_tokens),)
    assert isinstance(ds, MultiTurnDataset)
    think_rng = _rng(w.seed, 1, sid)
    history: list[dict[str, str]] = []
    turns = []
    n_hist = 0
    for k in range(ds.turns):
        user = tok.text_of(ds.user_tokens, text)
        think = 0.0
        if k > 0:
            think = ds.think_time_s if ds.think_time_dist == "fixed" else float(think_rng.exponential(ds.think_time_s))
        history.append({"role": "user", "content": user})
        n_hist += ds.user_tokens
        if api == "chat":
            turns.append(PlannedTurn(None, tuple(history), n_hist, ds.output_tokens, think))
        else:
            prompt = "\n".join(m["content"] for m in history)
            turns.append(PlannedTurn(prompt, None, tok.count(prompt), ds.output_tokens, think))
        # The assistant's answer in the history is synthesized (deterministic), not the server's reply.
        history.append({"role": "assistant", "content": tok.text_of(ds.output_tokens, text)})
        n_hist += ds.output_tokens
    return tuple(turns)


def _sessions(w: Workload, tok: PromptTokenizer, n_sessions: int, variant: Variant) -> list[tuple[PlannedTurn, ...]]:
    """The turns of the first ``n_sessions`` sessions, with ``variant``'s prompts."""
    if isinstance(w.dataset, SingleTurn):
        return _single_turn_sessions(w, tok, n_sessions, variant)
    prefixes: list[tuple[str, int]] = []
    if isinstance(w.dataset, PrefixGroupsDataset):
        prefixes = [(tok.text_of(w.dataset.prefix_tokens, _rng(w.seed, 3, g, variant.trial, variant.point)),
                     w.dataset.prefix_tokens) for g in range(w.dataset.groups)]
    return [_turns_for_session(w, tok, sid, prefixes, variant) for sid in range(n_sessions)]


def _arrivals(seed: int, n: int, rate: float, burstiness: float) -> list[float]:
    """Offsets (s) of ``n`` gamma arrivals at ``rate``/s; the first arrives at 0."""
    if n == 0:
        return []
    gaps = _rng(seed, 2).gamma(shape=burstiness, scale=1.0 / burstiness, size=n - 1)
    return [0.0, *np.cumsum(gaps / rate).tolist()]


def phase_arrivals(load: PhasesLoad, seed: int, limit: int) -> list[float]:
    """Offsets (s) of the arrivals of a phased load, at most ``limit``: gamma gaps at each phase's rate (one
    random stream per phase), the first at 0, none at or past the end of the last phase."""
    out: list[float] = [0.0]
    if limit <= 0:
        return []
    for k, ((start, end), phase) in enumerate(zip(load.bounds(), load.phases, strict=True)):
        rng = _rng(seed, 4, k)
        t = out[-1] if k == 0 else start
        while len(out) < limit:
            t += float(rng.gamma(shape=load.burstiness, scale=1.0 / load.burstiness)) / phase.rate
            if t >= end:
                break
            out.append(t)
    return out[:limit]


def planned_requests(w: Workload, *, read_files: bool = True) -> int:
    """Requests the longest load point of ``w`` plans: every arrival of a phased load, the trace's lines up to
    warm-up + measured, a search's longer of a probe and its confirmation, else warm-up + measured.
    ``read_files=False`` never opens a trace (a checker reading a submitted definition): then a trace plans warm-up
    + measured."""
    total = w.warmup_requests + w.most_requests
    if isinstance(w.load, SearchLoad):
        return w.warmup_requests + max(w.most_requests, w.load.confirm_requests)
    if isinstance(w.load, PhasesLoad):
        return len(phase_arrivals(w.load, w.seed, total))
    if isinstance(w.dataset, TraceDataset) and read_files:
        return len(read_trace(w.dataset, total))
    return total


def _turns_per_session(w: Workload) -> int:
    return w.dataset.turns if isinstance(w.dataset, MultiTurnDataset) else 1


def point_total(w: Workload, point: int, total: int, *, confirmation: bool = False) -> int:
    """Warm-up + measured requests load point ``point`` sends, of the ``total`` the plan holds (planned_requests):
    all of them, or with a list of ``requests`` that point's own count, a search's probe or (``confirmation``) its
    confirmation point, in whole sessions."""
    if isinstance(w.load, SearchLoad):
        measured = w.load.confirm_requests if confirmation else w.most_requests
    elif isinstance(w.requests, list):
        measured = w.requests_at(point)
    else:
        return total
    turns = _turns_per_session(w)
    return min(total, math.ceil((w.warmup_requests + measured) / turns) * turns)


def session_targets(w: Workload, n: int) -> list[str | None]:
    """The target of each of ``n`` sessions: a weighted draw from its own random stream, or round robin;
    all None without a traffic split."""
    if w.models is None:
        return [None] * n
    names = [t.name for t in w.models.targets]
    if w.models.split == "round_robin":
        return [names[i % len(names)] for i in range(n)]
    weights = np.array([t.weight for t in w.models.targets], dtype=float)
    picks = _rng(w.seed, 5).choice(len(names), size=n, p=weights / weights.sum())
    return [names[int(i)] for i in picks]


def target_counts(w: Workload, n: int) -> dict[str, int]:
    """How many of ``n`` sessions session_targets gives each target (the same draws, counted in numpy)."""
    if w.models is None:
        return {}
    names = [t.name for t in w.models.targets]
    if w.models.split == "round_robin":
        return {name: n // len(names) + (1 if i < n % len(names) else 0) for i, name in enumerate(names)}
    weights = np.array([t.weight for t in w.models.targets], dtype=float)
    counts = np.bincount(_rng(w.seed, 5).choice(len(names), size=n, p=weights / weights.sum()), minlength=len(names))
    return {name: int(c) for name, c in zip(names, counts, strict=True)}


def hash_point(point: LoadPointPlan) -> str:
    """Hash of a load point's schedule: content, lengths, arrival offsets and think times."""
    body = {
        "kind": point.kind,
        "value": point.value,
        "burstiness": point.burstiness,
        "max_concurrency": point.max_concurrency,
        "warmup": point.warmup_requests,
        "requests": point.requests,
        "duration_s": point.duration_s,
        "sessions": [
            [s.session_id, None if s.arrival_s is None else round(s.arrival_s * 1e9),
             [t.hash_fields() for t in s.turns], *([s.target] if s.target is not None else [])]
            for s in point.sessions
        ],
    }
    return "sha256:" + hashlib.sha256(canonical_json(body)).hexdigest()


def build_plan(w: Workload, tok: PromptTokenizer, trial: int = 0) -> CellPlan:
    """Build the deterministic plan of every load point of ``w`` in trial ``trial``."""
    total = planned_requests(w)
    if isinstance(w.load, PhasesLoad) and len(phase_arrivals(w.load, w.seed, total + 1)) > total:
        # the bound would cut the last arrivals, those of the phase recovery_s measures
        raise InferboardError(f"the phases draw more than warmup_requests + requests = {total} arrivals",
                              field="requests", fix="raise requests (it bounds the arrivals)")
    turns_per = _turns_per_session(w)
    n_sessions = math.ceil(total / turns_per)
    if isinstance(w.load, SearchLoad):  # probes are planned while the cell runs: probe_point
        return CellPlan(points=(), schedule_hash=_hash_of([]), trial=trial)
    targets = session_targets(w, n_sessions)
    points = []
    for i, value in enumerate(w.load.points()):
        upto = point_total(w, i, total)  # a point of fewer requests sends the first sessions' shapes
        n = math.ceil(upto / turns_per)
        sessions = _sessions(w, tok, n, Variant(trial, i))
        offs: list[float] | list[None]
        if isinstance(w.load, RateLoad):
            burst, maxc = w.load.burstiness_of(i), w.load.max_concurrency
            offs = _arrivals(w.seed, n_sessions, value, burst)
        elif isinstance(w.load, PhasesLoad):
            offs = phase_arrivals(w.load, w.seed, n_sessions)
            burst, maxc = w.load.burstiness, w.load.max_concurrency
        elif isinstance(w.load, TraceLoad) and isinstance(w.dataset, TraceDataset):
            offs = [r.offset_s / w.load.time_scale for r in read_trace(w.dataset, n_sessions)]
            burst, maxc = None, w.load.max_concurrency
        else:
            offs, burst, maxc = [None] * n_sessions, None, None
        plan = LoadPointPlan(
            index=i, kind=w.load.kind, value=value, burstiness=burst, max_concurrency=maxc,
            sessions=tuple(PlannedSession(sid, offs[sid], sessions[sid], targets[sid]) for sid in range(n)),
            warmup_requests=min(w.warmup_requests, upto), requests=max(0, upto - w.warmup_requests),
            duration_s=None if isinstance(w.load, PhasesLoad) else w.duration_s,  # its arrivals end with its phases
        )
        points.append(_with_hash(plan))
    return CellPlan(points=tuple(points), schedule_hash=_hash_of([p.schedule_hash for p in points]), trial=trial)


def _hash_of(hashes: list[str]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(hashes)).hexdigest()


def probe_point(w: Workload, tok: PromptTokenizer, trial: int, index: int, rate: float, *,
                confirmation: bool = False) -> LoadPointPlan:
    """Load point ``index`` of a search load in ``trial``: open-loop gamma arrivals at ``rate`` over every session
    of a probe (or of the ``confirmation`` point at the answer's rate), with the point's own prompts."""
    assert isinstance(w.load, SearchLoad)
    turns_per = _turns_per_session(w)
    measured = w.load.confirm_requests if confirmation else w.most_requests
    n = math.ceil((w.warmup_requests + measured) / turns_per)
    sessions = _sessions(w, tok, n, Variant(trial, index))
    offs = _arrivals(w.seed, n, rate, w.load.burstiness)
    targets = session_targets(w, n)
    point = LoadPointPlan(
        index=index, kind="search", value=rate, burstiness=w.load.burstiness, max_concurrency=None,
        sessions=tuple(PlannedSession(sid, offs[sid], sessions[sid], targets[sid]) for sid in range(n)),
        warmup_requests=w.warmup_requests, requests=measured, duration_s=w.duration_s)
    return _with_hash(point)


def _with_hash(p: LoadPointPlan) -> LoadPointPlan:
    object.__setattr__(p, "schedule_hash", hash_point(p))
    return p
