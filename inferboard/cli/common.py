"""Shared pieces of the command line: the typer apps, the console and option parsers."""

from __future__ import annotations

from enum import StrEnum
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


def _list(text: str | None, kind: type, option: str) -> list[Any] | None:
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


def _params(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InferboardError(f"{item!r} is not KEY=VALUE", field="--param", fix="e.g. --param parallel=8")
        out[key] = value
    return out


env_app = typer.Typer(no_args_is_help=True, help="Locked local environments of the runtimes.")
app.add_typer(env_app, name="env")
model_app = typer.Typer(no_args_is_help=True, help="Models generated locally.")
app.add_typer(model_app, name="model")
image_app = typer.Typer(no_args_is_help=True, help="Container images of the runtimes (pinned by digest).")
app.add_typer(image_app, name="image")
site_app = typer.Typer(no_args_is_help=True, help="The static leaderboard site (mkdocs-material).")
app.add_typer(site_app, name="site")
