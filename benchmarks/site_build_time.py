"""Time `inferboard site build` (generation + `mkdocs build --strict`) on a synthetic 10,000-cell leaderboard.

Goal (issue [6/6]): at most 30 s on the 2-core build machine. Prints the figures of each run and the median.
Usage: python benchmarks/site_build_time.py [--cells 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from inferboard.site.build import build_site
from inferboard.site.synthetic import synthesize


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--template", type=Path, default=Path("data/leaderboard.parquet"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "leaderboard.parquet"
        rows = synthesize(args.template, data, args.cells)
        totals = []
        for i in range(args.runs):
            t0 = time.perf_counter()
            fig = build_site(data, Path(tmp) / "html", project=Path(tmp) / "src")
            total = time.perf_counter() - t0
            totals.append(total)
            pages = sum(1 for _ in (Path(tmp) / "html").rglob("*.html"))
            print(f"run {i + 1}: {fig['cells']} cells, {rows} rows, {pages} HTML pages: pages {fig['generate_s']} s"
                  f" + mkdocs --strict beside the cell pages {fig['mkdocs_and_cells_s']} s = {total:.1f} s")
        print(f"median total: {statistics.median(totals):.1f} s (goal ≤ 30 s)")


if __name__ == "__main__":
    main()
