"""Time `inferboard site build` (generation + `mkdocs build --strict`) on a synthetic 10,000-entry leaderboard.

Goal (issue [6/6]): at most 30 s on the 2-core build machine. Prints the figures of each run and the median.
The leaderboard (inferboard.site.synthetic) holds submitted bundles, a custom-workload and a local entry; with
--files every entry's cell folder is copied under the root too (its files are published with the site).
Usage: python benchmarks/site_build_time.py [--cells 10000] [--runs 3] [--files]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from inferboard.site.build import build_site
from inferboard.site.synthetic import default_template, synthesize


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cells", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--template", type=Path, default=default_template(),
                    help="real cells: a folder (every summary.parquet under it) or a summary/leaderboard Parquet file")
    ap.add_argument("--files", action="store_true", help="copy each entry's cell files under the root")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data, root = Path(tmp) / "leaderboard.parquet", Path(tmp) / "root"
        rows = synthesize(args.template, data, args.cells, root=root if args.files else None)
        totals = []
        for i in range(args.runs):
            t0 = time.perf_counter()
            fig = build_site(data, Path(tmp) / "html", project=Path(tmp) / "src", root=root)
            total = time.perf_counter() - t0
            totals.append(total)
            pages = sum(1 for _ in (Path(tmp) / "html").rglob("*.html"))
            print(f"run {i + 1}: {fig['cells']} entries, {rows} rows, {pages} HTML pages: pages {fig['generate_s']} s"
                  f" + mkdocs --strict beside the cell pages {fig['mkdocs_and_cells_s']} s = {total:.1f} s")
        print(f"median total: {statistics.median(totals):.1f} s (goal ≤ 30 s)")


if __name__ == "__main__":
    main()
