"""Shared pieces of the command line: the typer apps, the console and option parsers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from inferboard.core.errors import InferboardError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Reproducible benchmarks for LLM inference serving.")
workload_app = typer.Typer(no_args_is_help=True, help="Inspect the standard workloads.")
app.add_typer(workload_app, name="workload")
console = Console(stderr=True)


class ApiFlavour(StrEnum):
    chat = "chat"
    completions = "completions"


def positive_numbers(text: str | None, kind: type, option: str) -> list[Any] | None:
    """The comma-separated positive numbers of an option (``kind``: int or float); None when not given."""
    if text is None:
        return None
    try:
        values = [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v <= 0 for v in values):
        noun = "integers" if kind is int else "numbers"
        raise InferboardError(f"{text!r} is not a comma-separated list of positive {noun}", field=option,
                              fix=f"e.g. {option} 4 or {option} 1,4,16")
    return values


def key_values(items: list[str] | None) -> dict[str, str]:
    """The ``KEY=VALUE`` items of a repeated ``--param`` option as a dict."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InferboardError(f"{item!r} is not KEY=VALUE", field="--param", fix="e.g. --param parallel=8")
        out[key] = value
    return out


def _named(field: str | None) -> bool:
    """Whether ``field`` names an option or argument of the command line (--out, CELL) rather than a file."""
    return field is not None and (field.startswith("-") or field.replace("_", "").isupper())


@contextlib.contextmanager
def about(option: str, *aliases: str) -> Iterator[None]:
    """Errors raised inside name ``option``: an error naming one of ``aliases`` (the library's name for it) is
    renamed, one naming only a file or a field inside it is prefixed with ``option``."""
    try:
        yield
    except InferboardError as err:
        if err.field in aliases:
            raise InferboardError(err.message, field=option, fix=err.fix) from None
        if _named(err.field):
            raise
        raise InferboardError(str(err), field=option) from None


def _first_existing(path: Path) -> Path:
    for p in (path, *path.parents):
        if p.exists():
            return p
    return Path(".")


def output_dir(path: Path, option: str) -> Path:
    """``path`` as a folder to write into (made later): refused when it, or a folder above it, is a file."""
    found = _first_existing(path)
    if not found.is_dir():
        what = "is a file" if found == path else f"is under the file {found}"
        raise InferboardError(f"{path} {what}, not a folder", field=option, fix="give a folder (new or existing)")
    return path


def output_file(path: Path, option: str) -> Path:
    """``path`` as a file to write: refused when it is a folder or a folder above it is a file."""
    if path.is_dir():
        raise InferboardError(f"{path} is a folder, not a file", field=option, fix=f"give a file name, e.g. "
                                                                                 f"{path / 'out'}")
    output_dir(path.parent, option)
    return path


def input_dir(path: Path, option: str, fix: str) -> Path:
    """``path`` as an existing folder to read."""
    if not path.is_dir():
        what = "is a file, not a folder" if path.exists() else "does not exist"
        raise InferboardError(f"{path} {what}", field=option, fix=fix)
    return path


def input_file(path: Path, option: str, fix: str) -> Path:
    """``path`` as an existing file to read."""
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise InferboardError(f"{path} {what}", field=option, fix=fix)
    return path


def known_runtime(name: str, option: str = "RUNTIME") -> Any:
    """The runner of ``name`` (runners/<name>/runner.yaml); an unknown one is an error naming ``option``."""
    from inferboard.runtimes.runner import load_runner

    with about(option, "--runtime"):
        return load_runner(name)


def pipeline_config(config: Path) -> Any:
    """(config, cells) of the pipeline config file ``config``; a missing or malformed one is an error naming
    --config."""
    import yaml

    from inferboard.pipeline.matrix import load_config

    input_file(config, "--config", "give the pipeline config, e.g. workflows/config/config.yaml")
    try:
        with about("--config"):
            return load_config(config)
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise InferboardError(f"{config}: invalid YAML{where}: {getattr(err, 'problem', None) or err}",
                              field="--config", fix="fix the file (workflows/config/config.yaml shows the form)"
                              ) from None


env_app = typer.Typer(no_args_is_help=True, help="Locked local environments of the runtimes.")
app.add_typer(env_app, name="env")
model_app = typer.Typer(no_args_is_help=True, help="Models generated locally.")
app.add_typer(model_app, name="model")
image_app = typer.Typer(no_args_is_help=True, help="Container images of the runtimes (pinned by digest).")
app.add_typer(image_app, name="image")
site_app = typer.Typer(no_args_is_help=True, help="The static leaderboard site (mkdocs-material).")
app.add_typer(site_app, name="site")
