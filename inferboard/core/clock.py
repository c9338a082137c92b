"""Wall-clock timestamps as written into every record."""

from __future__ import annotations

import datetime as dt


def utc_now() -> str:
    """Current UTC time as ISO-8601 with a Z."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
