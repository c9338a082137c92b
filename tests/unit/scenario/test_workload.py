from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from inferboard.core.errors import InferboardError
from inferboard.scenario.scenario import with_overrides
from inferboard.scenario.workload import (
    ConcurrencyLoad,
    RateLoad,
    load_workload,
    standard_workloads,
)

STANDARD = {"smoke", "1k-1k", "8k-1k", "1k-8k", "chat", "prefix-cache", "multi-turn", "long-context"}


def test_standard_set_loads_with_version_and_hash() -> None:
    names = set(standard_workloads())
    assert names >= STANDARD
    hashes = set()
    for name in names:
        w = load_workload(name)
        assert w.name == name and w.version >= 1 and w.schema_version == 1
        assert w.content_hash().startswith("sha256:") and len(w.content_hash()) == 71
        hashes.add(w.content_hash())
    assert len(hashes) == len(names)


def test_hash_ignores_description_but_not_content() -> None:
    w = load_workload("smoke")
    assert w.model_copy(update={"description": "other"}).content_hash() == w.content_hash()
    assert with_overrides(w, seed=1).content_hash() != w.content_hash()


def test_overrides_replace_the_load_pattern() -> None:
    w = load_workload("smoke")
    c = with_overrides(w, concurrency=[8], requests=5)
    assert isinstance(c.load, ConcurrencyLoad) and c.load.concurrency == [8] and c.requests == 5
    r = with_overrides(load_workload("chat"), rate=[3.5])
    assert isinstance(r.load, RateLoad) and r.load.rate == [3.5] and r.load.burstiness == 1.0
    with pytest.raises(InferboardError, match="not both"):
        with_overrides(w, concurrency=[1], rate=[1.0])


def _write(tmp_path: Path, data: dict) -> str:
    p = tmp_path / "w.yaml"
    p.write_text(yaml.safe_dump(data))
    return str(p)


def _base() -> dict:
    return {"name": "x", "version": 1, "dataset": {"kind": "fixed", "input_tokens": 4, "output_tokens": 4},
            "load": {"kind": "concurrency", "concurrency": 2}, "requests": 3}


@pytest.mark.parametrize(
    ("patch", "field", "words"),
    [
        ({"requests": 0}, "requests", "greater than 0"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"dataset": {"kind": "fixed", "input_tokens": 4}}, "dataset.fixed.output_tokens", "required"),
        ({"dataset": {"kind": "zipf"}}, "dataset", "zipf"),
        ({"load": {"kind": "rate", "rate": [1, -2]}}, "load.rate.rate.1", "greater than 0"),
        ({"api": "grpc"}, "api", "chat"),
    ],
)
def test_bad_workload_names_the_field(tmp_path: Path, patch: dict, field: str, words: str) -> None:
    data = _base() | patch
    with pytest.raises(InferboardError) as err:
        load_workload(_write(tmp_path, data))
    msg = str(err.value)
    assert f": {field}:" in msg and words in msg and "\n" not in msg


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.yaml"
    p.write_text("name: x\nversion: [1\n")
    with pytest.raises(InferboardError, match=r"line \d+"):
        load_workload(str(p))


def test_unknown_standard_name_lists_the_known_ones() -> None:
    with pytest.raises(InferboardError, match="smoke"):
        load_workload("no-such-workload")
