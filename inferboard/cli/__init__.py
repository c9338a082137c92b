"""The ``inferboard`` command line: thin typer commands over the library."""

from inferboard.cli.app import main

__all__ = ["main"]
