"""Constants and helpers of the site tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEADERBOARD = ROOT / "data" / "leaderboard.parquet"
ARTIFACTS = ROOT / "artifacts" / "site"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
#: names a submitter could send: HTML, JavaScript and Markdown payloads, one per name field
HOSTILE = {
    "sku": ['<img src=x onerror="alert(1)">'],
    "runtime": ['<script>alert("runtime")</script>'],
    "model": ["**bold** [click](javascript:alert(1)) `code`"],
    "workload": ["</title><svg onload=alert(1)>", "w-plain"],
}

#: cells the marked_site fixture makes invalid (one load point) and unverified (a declared SKU)
MARKED = {"invalid": "cpu-host/llamacpp/tiny-llama-2l/cpu-fixed", "unverified": "cpu-host/vllm/tiny-llama-2l/smoke"}


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def serve(root: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    handler = functools.partial(_Quiet, directory=str(root))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{srv.server_address[1]}", srv
