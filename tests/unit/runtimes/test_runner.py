from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from inferboard.core.errors import InferboardError
from inferboard.runtimes.runner import (
    Image,
    Runner,
    all_runners,
    buildable_runners,
    load_runner,
    local_runners,
    placeholders,
    render,
)

ROOT = Path(__file__).resolve().parents[3]
REFERENCE = ROOT.parent / "shared" / "reference" / "runtime_images.yaml"
SEVEN = {"vllm", "sglang", "tensorrt-llm", "tgi", "llamacpp", "ollama", "lmdeploy"}


def test_seven_runners_validate() -> None:
    runners = all_runners()
    assert set(runners) >= SEVEN
    for r in runners.values():
        assert r.launch.argv and r.readiness.path.startswith("/")
        assert r.images or (r.local is not None and r.local.kind == "system"), f"{r.name}: no way to run it"
    assert all(runners[n].images for n in SEVEN)
    assert runners["vllm"].local is not None and runners["llamacpp"].local is not None


@pytest.mark.skipif(not REFERENCE.is_file(), reason="shared/reference is not beside this checkout")
def test_every_digest_is_a_published_one() -> None:
    text = REFERENCE.read_text()
    for r in all_runners().values():
        for variant, img in r.images.items():
            if img.digest:
                assert img.digest in text, f"{r.name}/{variant}: {img.digest} is not in the reference"
                assert img.source is not None


def _raw(**over: object) -> dict:
    data = yaml.safe_load((ROOT / "runners" / "vllm" / "runner.yaml").read_text())
    data.update(over)
    return data


def test_undeclared_placeholder_is_an_error() -> None:
    data = _raw()
    data["launch"]["argv"].append("{undeclared}")
    with pytest.raises(ValueError, match=r"placeholder \{undeclared\} is not declared"):
        Runner.model_validate(data)


def test_a_runner_without_digest_cannot_run_in_container_mode() -> None:
    img = Image(image="example/runtime", tag="latest", digest=None)
    with pytest.raises(InferboardError, match="no published digest"):
        _ = img.pinned
    assert Image(image="x", digest="sha256:" + "a" * 64).pinned == "x@sha256:" + "a" * 64
    with pytest.raises(ValueError):
        Image(image="x", digest="sha256:abc")  # never a shortened or invented digest


def test_render_fills_every_placeholder() -> None:
    r = load_runner("llamacpp")
    assert r.local is not None
    values = {**r.params, "model_gguf": "/m/model.gguf", "served_model_name": "tiny", "host": "127.0.0.1",
              "port": 9, "env_dir": "/e"}
    argv, _ = render(r.local.launch, values)
    assert argv[0] == "/e/bin/llama-server" and "/m/model.gguf" in argv and not any("{" in a for a in argv)
    with pytest.raises(InferboardError, match="no value for"):
        render(r.local.launch, {})
    assert placeholders("--x {a} {b}") == ["a", "b"]


def test_unknown_runtime_lists_the_known() -> None:
    with pytest.raises(InferboardError, match="llamacpp"):
        load_runner("no-such-runtime")


def test_every_image_recipe_says_how_to_list_its_packages() -> None:
    """A runner with a Containerfile.<variant> names, in runner.yaml, the command that lists what its image holds."""
    for name, r in all_runners().items():
        if list((ROOT / "runners" / name).glob("Containerfile.*")):
            assert r.built_image is not None, f"{name}: Containerfile without built_image"
            assert r.built_image.packages.argv[0].startswith("/"), name  # run as the image's entrypoint


def test_local_and_buildable_runners_follow_the_local_section() -> None:
    runners = all_runners()
    assert local_runners() == sorted(n for n, r in runners.items() if r.local is not None)
    assert set(buildable_runners()) == {n for n, r in runners.items() if r.local and r.local.kind in ("venv", "cmake")}
    assert set(buildable_runners()) < set(local_runners())  # a `system` runner builds nothing
    assert {"vllm", "llamacpp"} <= set(buildable_runners())


def test_built_image_query_is_validated() -> None:
    data = _raw(built_image={"packages": {"argv": [], "format": "pip-json"}})
    with pytest.raises(ValueError):
        Runner.model_validate(data)
    data = _raw(built_image={"packages": {"argv": ["/x", "--version"], "format": "yaml"}})
    with pytest.raises(ValueError):
        Runner.model_validate(data)
