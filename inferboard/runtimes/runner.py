"""Runner definitions (``runners/<runtime>/runner.yaml``): how to launch, probe and scrape a runtime.

A runner names its images by digest (``digest: null`` where no published digest is known: container
mode then refuses it), the launch argv template for container and local mode, readiness probe, API
flavour and the Prometheus metric names that matter. Placeholders in argv/env are ``{name}``; every
one must be a built-in (model, model_gguf, port, host, served_model_name, python, env_dir) or
declared under ``params``.
"""

from __future__ import annotations

import string
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import Field, model_validator

from inferboard.core.errors import InferboardError, validated
from inferboard.core.paths import REPO_ROOT
from inferboard.core.strict import Strict
from inferboard.core.yamltext import load_yaml
from inferboard.runtimes.adapters import ADAPTER_PLACEHOLDERS, MODULES_ITEM, Adapters

RUNNER_SCHEMA_VERSION: Final = 1
BUILTIN_PLACEHOLDERS = frozenset({"model", "model_gguf", "port", "host", "served_model_name", "python", "env_dir"})
Digest = Annotated[str, Field(pattern=r"^sha256:[0-9a-f]{64}$")]


class Source(Strict):
    """Where a fact (a digest) was found written."""

    repo: str
    path: str
    commit: str | None = None


class Image(Strict):
    """A container image: name:tag plus the digest that pins it (null = none known, cannot run)."""

    image: str
    tag: str | None = None
    digest: Digest | None = None
    source: Source | None = None

    @property
    def pinned(self) -> str:
        """``image@sha256:…``; raises when no digest is known."""
        if self.digest is None:
            raise InferboardError(f"{self.image}:{self.tag} has no published digest", field="runner.images",
                                  fix="container mode runs images by digest only; use local mode or add a "
                                      "digest found in a public source")
        return f"{self.image}@{self.digest}"


class Probe(Strict):
    """Readiness: GET ``path`` until it answers 200, every ``interval_s``, for at most ``timeout_s``."""

    path: str = "/health"
    timeout_s: float = 900.0
    interval_s: float = 0.5


class MetricNames(Strict):
    """Prometheus series of the runtime (null where it has none)."""

    kv_cache_usage: str | None = None
    running_requests: str | None = None
    waiting_requests: str | None = None
    prefix_cache_hits: str | None = None
    prefix_cache_queries: str | None = None
    extra: list[str] = Field(default_factory=list)


class Metrics(Strict):
    path: str | None = "/metrics"
    names: MetricNames = Field(default_factory=MetricNames)


class Api(Strict):
    flavor: Literal["openai"] = "openai"
    chat: bool = True
    completions: bool = True
    forces_output_length: bool = Field(description="honours ignore_eos/min_tokens so outputs reach max_tokens")
    length_control: Literal["ignore_eos", "generation_config"] = Field(
        "ignore_eos", description="how the forced length is asked for: ignore_eos + min_tokens, or a "
                                  "`generation_config` JSON string with min_new_tokens (servers that reject those)")
    request_model: Literal["served_name", "model_path"] = Field(
        "served_name", description="what the request's `model` field names: the served alias or the model folder")
    tcp_nodelay: bool = Field(
        False, description="the server switches Nagle's algorithm off on its connections (TCP_NODELAY; checked "
                           "against the running server by tests/integration): the client may then empty its "
                           "receive queue in bulk, which costs the server less CPU; a server that leaves Nagle on "
                           "would wait for acknowledgements a bulk reader holds back")


class Launch(Strict):
    """A command line template and its environment."""

    argv: Annotated[list[str], Field(min_length=1)]
    env: dict[str, str] = Field(default_factory=dict)
    fresh_dirs: list[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]] = Field(
        default_factory=list,
        description="environment variables each pointed at a new empty folder for every server start and "
                    "removed after it stops (compile caches, so that every cold start compiles from nothing "
                    "whatever ran before it); local mode only: a container starts from its image's files")


class LocalVenv(Strict):
    """Local mode from a locked virtualenv built by ``inferboard env build``."""

    kind: Literal["venv"]
    lock: str = Field(description="hashed requirements file, relative to the repository root (requirements/)")
    remove_after_install: list[str] = Field(default_factory=list)
    provenance_note: str | None = None
    launch: Launch


class LocalCmake(Strict):
    """Local mode from a C++ source archive on PyPI, verified by hash and built with cmake."""

    kind: Literal["cmake"]
    sdist: str = Field(description="PyPI requirement of the source archive, e.g. llama-cpp-python==0.3.36")
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    source_subdir: str
    cmake_args: list[str] = Field(default_factory=list)
    cmake_include: str | None = Field(
        None, description="a CMake script in the runner's folder, run by the project's top-level project() call "
                          "(CMAKE_PROJECT_INCLUDE): build settings the project has no option for")
    target: str
    provenance_note: str | None = None
    launch: Launch


class LocalSystem(Strict):
    """Local mode with the host's own Python (e.g. a GPU image that ships torch + transformers): the
    required packages are checked and their versions recorded; nothing is installed."""

    kind: Literal["system"]
    requires: dict[str, str] = Field(description="package → PEP 440 specifier the host Python must satisfy")
    provenance_note: str | None = None
    launch: Launch


class PackageQuery(Strict):
    """A command run inside a built image (its entrypoint replaced by ``argv[0]``, no network) whose output
    says what the image resolved to; recorded in image.lock under ``packages``."""

    argv: Annotated[list[str], Field(min_length=1)]
    format: Literal["pip-json", "text"] = Field(
        description="pip-json: `pip list --format=json` output, recorded as python: {name: version}; "
                    "text: a version line, its last 400 characters recorded as server_version")


class BuiltImage(Strict):
    """What ``inferboard image build`` needs to know about the images it builds from the runner's
    ``Containerfile.<variant>`` (its paths live in the recipe, not in the code)."""

    packages: PackageQuery = Field(description="how to list the resolved packages (or version) inside the image")


class Runner(Strict):
    """One runtime's definition."""

    schema_version: Literal[1] = RUNNER_SCHEMA_VERSION
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$")]
    display_name: str
    homepage: str
    default_port: int
    params: dict[str, str | int | float] = Field(default_factory=dict, description="declared placeholders")
    images: dict[Literal["cuda", "rocm", "cpu"], Image] = Field(
        description="container images by variant; empty where the project publishes none")
    launch: Launch = Field(description="container mode: arguments after the image")
    readiness: Probe = Field(default_factory=Probe)
    metrics: Metrics = Field(default_factory=Metrics)
    api: Api
    local: Annotated[LocalVenv | LocalCmake | LocalSystem, Field(discriminator="kind")] | None = None
    built_image: BuiltImage | None = Field(
        None, description="images built here from runners/<name>/Containerfile.<variant>; needed where one exists")
    adapters: Adapters | None = Field(
        None, description="how it serves LoRA adapters next to its model (a workload's traffic split); none: it "
                          "serves one model")

    @model_validator(mode="after")
    def _placeholders_declared(self) -> Runner:
        declared = BUILTIN_PLACEHOLDERS | set(self.params)
        launches = [("launch", self.launch)] + ([("local.launch", self.local.launch)] if self.local else [])
        for where, launch in launches:
            for text in [*launch.argv, *launch.env.values()]:
                for name in placeholders(text):
                    if name not in declared:
                        raise ValueError(f"{where}: placeholder {{{name}}} is not declared under params "
                                         f"(built-ins: {', '.join(sorted(BUILTIN_PLACEHOLDERS))})")
        for text in self.adapters.argv if self.adapters else []:
            unknown = [n for n in placeholders(text) if n not in ADAPTER_PLACEHOLDERS and text != MODULES_ITEM]
            if unknown:
                raise ValueError(f"adapters.argv: placeholder {{{unknown[0]}}} is not one of "
                                 f"{', '.join(sorted(ADAPTER_PLACEHOLDERS | {MODULES_ITEM.strip('{}')}))}")
        return self


def placeholders(text: str) -> list[str]:
    """Names of the ``{name}`` fields in ``text``."""
    return [f for _, f, _, _ in string.Formatter().parse(text) if f]


def render(launch: Launch, values: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
    """Fill a launch template; every placeholder must have a value."""
    missing = sorted({n for t in [*launch.argv, *launch.env.values()] for n in placeholders(t)} - set(values))
    if missing:
        raise InferboardError(f"no value for {', '.join(missing)}", field="runner launch")
    return ([a.format(**values) for a in launch.argv], {k: v.format(**values) for k, v in launch.env.items()})


def runners_dir() -> Path:
    """Folder of the runner definitions."""
    return REPO_ROOT / "runners"


def load_runner(name_or_path: str) -> Runner:
    """Load and validate ``runners/<name>/runner.yaml`` (or a path), one-line error on bad input."""
    p = Path(name_or_path)
    path = p if p.suffix in (".yaml", ".yml") else runners_dir() / name_or_path / "runner.yaml"
    if not path.is_file():
        known = sorted(d.name for d in runners_dir().iterdir() if (d / "runner.yaml").is_file())
        raise InferboardError(f"unknown runtime {name_or_path!r}", field="--runtime",
                              fix=f"one of: {', '.join(known)}")
    return validated(Runner, load_yaml(path.read_text()), source=str(path))


def all_runners() -> dict[str, Runner]:
    """Every runner under runners/, by name."""
    return {d.name: load_runner(d.name) for d in sorted(runners_dir().iterdir()) if (d / "runner.yaml").is_file()}


def local_runners() -> list[str]:
    """Runners with a local mode (any ``local`` section), by name."""
    return [name for name, r in all_runners().items() if r.local is not None]


def buildable_runners() -> list[str]:
    """Runners whose local environment is built here (``local.kind`` venv or cmake, not the host's own
    Python): what ``make envs`` builds."""
    return [name for name, r in all_runners().items() if isinstance(r.local, LocalVenv | LocalCmake)]


def runner_file(name: str) -> Path:
    """``runners/<name>/runner.yaml``."""
    return runners_dir() / name / "runner.yaml"




def require_adapters(runner: Runner) -> Adapters:
    """The runner's way of serving LoRA adapters; a one-line error naming those that have one when it has none."""
    if runner.adapters is None:
        able = [n for n, r in all_runners().items() if r.adapters is not None]
        raise InferboardError(f"{runner.name} declares no way to serve several models (no adapters section)",
                              field="models", fix=f"use a runtime whose runner.yaml has one ({', '.join(able)})")
    return runner.adapters
