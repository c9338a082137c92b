"""The submission checks, one small function each; importing this package registers them in order."""

from inferboard.submission.checks import (  # noqa: F401 - each module registers its checks
    documents,
    files,
    gates,
    history,
    integrity,
    measurements,
    operations,
    origin,
    tables,
    validity,
)
