"""How a runner loads LoRA adapters next to its model and how a request addresses one."""

from __future__ import annotations

from pathlib import Path

import pytest

from inferboard.core.errors import InferboardError
from inferboard.models.lora import write_adapters
from inferboard.models.tiny import SIZES
from inferboard.runtimes.adapters import adapter_argv, adapter_ranks, request_fields
from inferboard.runtimes.runner import Runner, load_runner


def test_vllm_serves_adapters_under_their_names() -> None:
    r = load_runner("vllm")
    assert r.adapters is not None and r.adapters.request == "model"
    argv = adapter_argv(r.adapters, "/m", {"lora-a": 8, "lora-b": 8})
    assert argv == ["--enable-lora", "--max-loras", "2", "--max-lora-rank", "8", "--lora-modules",
                    "lora-a=/m/adapters/lora-a", "lora-b=/m/adapters/lora-b"]
    assert request_fields("model", "tiny", ("lora-a", "lora-b"), "lora-b") == {"model": "lora-b"}
    assert request_fields("model", "tiny", ("lora-a", "lora-b"), "base") == {"model": "tiny"}


def test_llama_server_picks_an_adapter_per_request_by_its_launch_index() -> None:
    r = load_runner("llamacpp")
    assert r.adapters is not None and r.adapters.request == "lora_field"
    argv = adapter_argv(r.adapters, "/m/", {"lora-a": 8, "lora-b": 8})
    assert argv == ["--lora", "/m/adapters/lora-a.gguf,/m/adapters/lora-b.gguf", "--lora-init-without-apply"]
    fields = request_fields("lora_field", "tiny", ("lora-a", "lora-b"), "lora-b")
    assert fields == {"lora": [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 1.0}]}
    assert request_fields("lora_field", "tiny", ("lora-a", "lora-b"), "base") == {
        "lora": [{"id": 0, "scale": 0.0}, {"id": 1, "scale": 0.0}]}


def test_an_endpoint_addresses_targets_by_model_name() -> None:
    assert request_fields(None, "served", ("a",), "a") == {"model": "a"}
    assert request_fields(None, "served", ("a",), "base") == {"model": "served"}


def test_unknown_placeholder_in_adapters_argv_is_refused() -> None:
    data = load_runner("vllm").model_dump(mode="json")
    data["adapters"]["argv"] = ["--lora", "{nope}"]
    with pytest.raises(ValueError, match=r"adapters.argv: placeholder \{nope\}"):
        Runner.model_validate(data)


def test_adapter_ranks_reads_the_model_folder(tmp_path: Path) -> None:
    write_adapters(tmp_path, SIZES["tiny-llama-2l"])
    assert adapter_ranks(tmp_path, ("lora-a", "lora-b")) == {"lora-a": 8, "lora-b": 8}
    with pytest.raises(InferboardError) as err:
        adapter_ranks(tmp_path, ("lora-c",))
    assert err.value.field == "models.targets" and "lora-c" in str(err.value)
    (tmp_path / "adapters" / "lora-a" / "adapter_config.json").write_text('{"r": "eight"}')
    with pytest.raises(InferboardError, match="no valid LoRA rank"):
        adapter_ranks(tmp_path, ("lora-a",))
