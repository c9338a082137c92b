"""The leaderboard site: leaderboard Parquet → jinja2 (autoescape everywhere) → a mkdocs-material project → HTML.

Generated pages carry their body as HTML produced by the templates in ``site/templates/`` (autoescaped),
handed to mkdocs by ``site/hooks.py`` without passing through Markdown, so a name can never turn into markup.
Cell pages are static HTML files (``site/templates/cell.html.j2``) so that 10,000 cells build in seconds.
The leaderboard's rows and its ``inferboard.bundles`` metadata come from submitters: untrusted text, escaped
everywhere; the cell folders are read only under ``root``, the folder the leaderboard was built in.
"""

from __future__ import annotations

import multiprocessing
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from inferboard.core.errors import InferboardError
from inferboard.core.paths import REPO_ROOT
from inferboard.core.yamltext import load_yaml
from inferboard.metrics import Column, column_label, headline_columns
from inferboard.site import data as sd
from inferboard.site import operational_workloads as ops
from inferboard.site.bundles import cell_files, copy_file, read_bundles
from inferboard.site.charts import cdf_chart, cell_timelines, pareto_chart, sweep_chart
from inferboard.site.html import (
    board_columns,
    board_rows,
    cell_badges,
    entry_html,
    figure_cells,
    figure_headers,
    figure_rows,
    fmt,
    key_headers,
    latency_rows,
    load_label,
    metric_cells,
    metric_headers,
    operations_rows,
    origin_html,
    rel,
    script_json,
    spec_text,
    system_html,
    target_rows,
    td,
)
from inferboard.site.ranking import accuracy_measured, earlier_version, rank_groups
from inferboard.site.reference import add_pages as add_reference_pages
from inferboard.site.reference import anchor, inline
from inferboard.submission.registry import Check, all_checks

SITE_SRC = REPO_ROOT / "site"
SENTINEL = "<!-- inferboard:html -->"  # the same marker as in site/hooks.py (copied into the project)
#: the tables of a leaderboard page, in this order: group (ranking.RANK_GROUPS) → (heading id, heading, one-line
#: explanation); only "ranked" is ranked, the others are shown apart
GROUPS: dict[str, tuple[str, str, str]] = {
    "ranked": ("ranking", "Ranking: goodput at SLO per GPU",
               "Submitted entries on the workload as defined today, with a valid load point whose answers "
               "passed the accuracy check, on fingerprinted hardware; best first. Entries that cannot be told "
               "apart share a rank (=1: the same figure to three significant digits, or overlapping 95% confidence "
               "intervals across trials)."),
    "unchecked": ("accuracy-not-measured", "Accuracy not measured (not ranked)",
                  "A speed figure is ranked only beside its accuracy figure. These entries' model has no "
                  "reference answers (random weights, for instance), so nothing shows that the server computed "
                  "the right tokens: their speed is shown, not ranked."),
    "earlier": ("earlier-version", "Earlier version of this workload (not ranked)",
                "Measured with an earlier definition of this workload (other lengths, rates or request counts): "
                "kept and shown, never ranked against today's definition."),
    "unverified": ("unverified", "Unverified hardware (not ranked)",
                   "These entries ran against an endpoint whose hardware was declared, not fingerprinted."),
    "invalid": ("invalid", "Invalid entries (kept, not ranked)",
                "No load point of these entries is valid (client saturation, error rate, roofline or power, "
                "as checked when the bundle came in); each row says why."),
    "custom": ("custom", "Custom workloads (not ranked)",
               "Measured with a workload that is not the standard one of this name: shown apart, never ranked "
               "with standard results."),
    "local": ("local", "Local, not submitted (not ranked)",
              "Cells of the results/ folder of the machine that built this site: in no accepted submission, "
              "so never checked or ranked."),
}
#: what a failed check of each severity does (submit page, cell pages)
ON_FAILURE = {"error": "rejects the bundle", "invalid": "row kept, marked invalid"}


def _environment(templates: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        autoescape=True,  # every template, .md.j2 included: names are data, never markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(fmt=fmt, load=load_label, json=script_json, spec=spec_text, seg=sd.segment, label=sd.label,
                       sh=shlex.quote, inline=inline, check_anchor=lambda cid: anchor("check", cid))
    env.globals.update(td=td, latency_rows=latency_rows, cell_badges=cell_badges, PCTS=sd.PERCENTILES,
                       earlier_version=earlier_version, accuracy_measured=accuracy_measured,
                       metric_headers=metric_headers, metric_cells=metric_cells, metric_label=column_label,
                       points_columns=sd.points_columns, board_columns=sd.board_columns, origin_html=origin_html,
                       sweep_chart=sweep_chart, cdf_chart=cdf_chart, GROUPS=GROUPS, ON_FAILURE=ON_FAILURE,
                       timelines=cell_timelines, figure_headers=figure_headers, key_headers=key_headers,
                       operations_rows=operations_rows, operations_columns=ops.operations_columns,
                       cell_targets=ops.target_rows, target_rows=target_rows, TARGET_COLUMNS=ops.TARGET_COLUMNS)
    return env


class SiteBuilder:
    """Writes the mkdocs project (docs/, mkdocs.yml, hooks.py) and the cell pages for one leaderboard file.

    ``root`` is the folder the leaderboard was built in: each entry's ``cell_path`` (provenance, requests,
    downloads) is read under it, and only there.
    """

    def __init__(self, data: Path, project: Path, root: Path | None = None, site_src: Path = SITE_SRC) -> None:
        self.data = data
        self.project = project
        self.root = (root if root is not None else Path.cwd()).resolve()
        self.site_src = site_src
        self.env = _environment(site_src / "templates")
        self.rows = sd.load_rows(data)
        self.bundles = read_bundles(data)
        self.cells = sd.group_cells(self.rows, self.root, self.bundles)
        self.checks: list[Check] = all_checks()
        self.check_ids = {c.id for c in self.checks}
        self.skus = _sku_catalogue()
        self.workloads = _workload_catalogue()
        self.matrix_cells = _default_matrix()
        #: the figure each operational workload is ranked by (None: ranked by goodput), see site.operational_workloads
        self.figures = {w: ops.workload_figure(cs, self.workloads.get(w)) for w, cs in self.by("workload").items()}
        self.mkdocs = load_yaml((site_src / "mkdocs.yml").read_text())
        self.site_meta = {"name": self.mkdocs["site_name"],
                          "css": [*_material_css(), *self.mkdocs.get("extra_css", [])],
                          "js": list(self.mkdocs.get("extra_javascript", []))}

    # -------------------------------------------------------------- helpers for templates
    def _write(self, path: str, template: str, *, title: str, meta: dict[str, Any] | None = None,
               **ctx: Any) -> None:
        body = self.env.get_template(template).render(url=lambda to: rel(path, to), b=self, **ctx)
        front = {"title": sd.label(title), "hide": ["toc"], **(meta or {})}
        text = "---\n" + yaml.safe_dump(front, sort_keys=True) + "---\n\n" + SENTINEL + "\n" + body
        out = self.project / "docs" / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")

    def board_cols(self, cells: list[sd.PublishedCell]) -> tuple[list[Column], list[Column]]:
        """(shown, left out) metric columns of a leaderboard table of ``cells`` (see html.board_columns)."""
        return board_columns(cells, self.price)

    def cell_rows(self, cells: list[sd.PublishedCell], cols: list[Column], url: Any, rank: bool,
                  workload: bool = True) -> Markup:
        """Rows of a leaderboard table, one per cell at its ranked load point (in Python: tables reach 10k rows)."""
        return board_rows(cells, cols, url, rank, self.price, workload)

    def figure_rows(self, cells: list[sd.PublishedCell], fig: ops.Figure, url: Any, rank: bool) -> Markup:
        """Rows of a table ranked by an operational figure (see html.figure_rows)."""
        return figure_rows(cells, fig, url, rank)

    def system_entry(self, cell: sd.PublishedCell, row: dict[str, Any], url: Any) -> Markup:
        """The system and entry cells of a table row (see html.system_html, html.entry_html)."""
        return Markup(system_html(cell, url) + entry_html(cell, row, url, False))

    def figure_cells(self, cell: sd.PublishedCell) -> Markup:
        """Every leaderboard column of an entry at its ranked load point (its page's leaderboard figures)."""
        return figure_cells(cell, self.price)

    def groups(self, workload: str, cells: list[sd.PublishedCell]) -> dict[str, list[sd.PublishedCell]]:
        """Entries of one workload split into the GROUPS, each ordered by the workload's figure or by goodput."""
        fig = self.figures.get(workload)
        return ops.figure_groups(cells, fig) if fig else self.ranked(cells)

    def best_figures(self) -> list[dict[str, Any]]:
        """Per operational workload: its figure and its best ranked entry (None without one) with the row."""
        out = []
        for w, cells in self.by("workload").items():
            fig = self.figures.get(w)
            if fig is None:
                continue
            ranked = self.groups(w, cells)["ranked"]
            best = ranked[0] if ranked else None
            out.append({"workload": w, "figure": fig, "cell": best,
                        "row": ops.figure_row(best, fig) if best else None})
        return out

    def price(self, sku: str) -> float | None:
        s = self.skus.get(sku)
        return s.get("price_per_gpu_hour_usd") if s else None

    def by(self, attr: str) -> dict[str, list[sd.PublishedCell]]:
        groups: dict[str, list[sd.PublishedCell]] = defaultdict(list)
        for c in self.cells:
            groups[getattr(c, attr)].append(c)
        return dict(sorted(groups.items()))

    def ranked(self, cells: list[sd.PublishedCell]) -> dict[str, list[sd.PublishedCell]]:
        """Entries split into the GROUPS (see ranking.rank_groups); only 'ranked' is ranked."""
        return rank_groups(cells)

    # -------------------------------------------------------------- pages
    def build(self) -> None:
        """Write the mkdocs project: every page but the cell pages (see ``write_cells``)."""
        if self.project.exists():
            shutil.rmtree(self.project)
        shutil.copytree(self.site_src / "docs", self.project / "docs")
        shutil.copy2(self.site_src / "hooks.py", self.project / "hooks.py")
        self._assets()
        self._downloads()
        workloads = self.by("workload")
        skus = self.by("sku")
        runtimes = self.by("runtime")
        self._write("index.md", "home.md.j2", title="Leaderboard", workloads=workloads, skus=skus,
                    runtimes=runtimes)
        # data-heavy list pages stay out of the search index (its HTML parser would take most of the build);
        # the navigation lists every one of them
        hidden = {"search": {"exclude": True}}
        for w, cells in workloads.items():
            groups = self.groups(w, cells)
            self._write(f"workloads/{sd.segment(w)}.md", "workload.md.j2", title=f"Workload {w}", name=w,
                        cells=cells, groups=groups, spec=self.workloads.get(w), figure=self.figures.get(w),
                        chart=pareto_chart(groups["ranked"]), meta=hidden)
        for s, cells in skus.items():
            self._write(f"skus/{sd.segment(s)}.md", "sku.md.j2", title=f"SKU {s}", name=s, cells=cells,
                        spec=self.skus.get(s), meta=hidden)
        for r, cells in runtimes.items():
            self._write(f"runtimes/{sd.segment(r)}.md", "runtime.md.j2", title=f"Runtime {r}", name=r, cells=cells,
                        meta=hidden)
        self._write("methodology.md", "methodology.md.j2", title="Methodology", metrics=sd.metric_docs(),
                    headline=headline_columns(), workloads=self.workloads, gates=sd.accuracy_gates())
        self._write("submit.md", "submit.md.j2", title="Submit results", checks=self.checks)
        self._config(workloads, skus, runtimes)

    def cell_page(self, cell: sd.PublishedCell, root: Path) -> None:
        """Write one cell's page under ``root`` as a static HTML file (see cell.html.j2)."""
        html = self.env.get_template("cell.html.j2").render(
            url=lambda to: rel(cell.path, to), b=self, cell=cell, site=self.site_meta)
        out = root / cell.path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")

    def write_cells(self, root: Path) -> None:
        """All cell pages under ``root``, split over the CPU cores (forked workers share the loaded data)."""
        global _BUILDER
        workers = min(os.cpu_count() or 1, max(1, len(self.cells) // 500))
        if workers < 2 or "fork" not in multiprocessing.get_all_start_methods():
            for c in self.cells:
                self.cell_page(c, root)
            return
        _BUILDER = self
        try:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(workers) as pool:
                pool.map(_cell_pages_slice, [(i, workers, root) for i in range(workers)])
        finally:
            _BUILDER = None

    def _assets(self) -> None:
        import plotly

        vendor = self.project / "docs" / "assets" / "vendor"
        vendor.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(plotly.__file__).parent / "package_data" / "plotly.min.js", vendor / "plotly.min.js")

    def _downloads(self) -> None:
        """The leaderboard file, and every plain file of each cell folder under data/submissions/<id>/cells/…
        (data/local/… for local entries), listed on the cell page."""
        d = self.project / "docs" / "data"
        d.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.data, d / "leaderboard.parquet")
        docs = self.project / "docs"
        for c in self.cells:
            if c.dir is None:
                continue
            c.files = [f for f in cell_files(c.dir, c.data_dir) if copy_file(f.source, docs / f.dest)]

    def _config(self, workloads: dict[str, Any], skus: dict[str, Any], runtimes: dict[str, Any]) -> None:
        cfg = {**self.mkdocs, "nav": [
            {"Leaderboard": "index.md"},
            {"Workloads": [{sd.label(w): f"workloads/{sd.segment(w)}.md"} for w in workloads]},
            {"Hardware": [{sd.label(s): f"skus/{sd.segment(s)}.md"} for s in skus]},
            {"Runtimes": [{sd.label(r): f"runtimes/{sd.segment(r)}.md"} for r in runtimes]},
            {"Methodology": "methodology.md"},
            {"Submit results": "submit.md"},
        ]}
        (self.project / "mkdocs.yml").write_text(yaml.safe_dump(cfg, sort_keys=False))


_BUILDER: SiteBuilder | None = None


def _cell_pages_slice(part: tuple[int, int, Path]) -> None:
    i, n, root = part
    assert _BUILDER is not None
    for c in _BUILDER.cells[i::n]:
        _BUILDER.cell_page(c, root)


def _material_css() -> list[str]:
    """Material's hashed stylesheets (assets/stylesheets/main.*.min.css, palette.*.min.css) for static pages."""
    import material

    css = Path(material.__file__).parent / "templates" / "assets" / "stylesheets"
    return sorted(f"assets/stylesheets/{p.name}" for p in css.glob("*.min.css")
                  if p.name.startswith(("main.", "palette.")))


def _default_matrix() -> set[str]:
    """Cell ids of the default config's matrix (those `inferboard rerun` reruns as they are)."""
    from inferboard.pipeline.matrix import load_config

    try:
        return {c.id for c in load_config(SITE_SRC.parent / "workflows" / "config" / "config.yaml")[1]}
    except (OSError, InferboardError):
        return set()


def _sku_catalogue() -> dict[str, dict[str, Any]]:
    from inferboard.hardware.sku import load_skus

    return {k: v.model_dump(mode="json") for k, v in sorted(load_skus().items())}


def _workload_catalogue() -> dict[str, dict[str, Any]]:
    from inferboard.scenario.workload import load_workload, standard_workloads

    out = {}
    for name in sorted(standard_workloads()):
        w = load_workload(name)
        out[name] = {**w.model_dump(mode="json"), "hash": w.content_hash()}
    return out


def build_site(data: Path, out: Path, *, project: Path, root: Path | None = None,
               html: bool = True, extra_pages: dict[str, str] | None = None) -> dict[str, Any]:
    """Generate the site of the leaderboard file ``data``, built in the folder ``root`` (default: the current
    directory), under which each entry's ``cell_path`` is read.

    ``extra_pages`` (path under docs/ → page text, e.g. the CLI reference from ``inferboard site build``) are
    added to the generated reference pages (``inferboard.site.reference``) and the navigation.

    Writes the mkdocs project to ``project``; with ``html``, runs ``mkdocs build --strict`` into ``out`` while
    the cell pages (static HTML, thousands of them) are written beside it, then moved into ``out/cells``.
    Without ``html`` the cell pages go into the project's docs/ (``mkdocs build`` there gives the same site).
    """
    t0 = time.perf_counter()
    builder = SiteBuilder(data, project, root)
    builder.build()
    add_reference_pages(project, extra_pages)  # data dictionary, runners, SKU catalogue, guide + extra pages, nav
    figures: dict[str, Any] = {"cells": len(builder.cells), "rows": len(builder.rows), "project": str(project)}
    if not html:
        builder.write_cells(project / "docs")
        figures["generate_s"] = round(time.perf_counter() - t0, 2)
        return figures
    out = out.resolve()
    staging = out.parent / f".{out.name}.cells"
    if staging.exists():
        shutil.rmtree(staging)
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    env.setdefault("SOURCE_DATE_EPOCH", "0")  # same data → identical files (sitemap dates included)
    cmd = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(project / "mkdocs.yml"),
           "-d", str(out)]
    t1 = time.perf_counter()
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            builder.write_cells(staging)
        finally:
            _, stderr = proc.communicate()
    t2 = time.perf_counter()
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise InferboardError(f"mkdocs build --strict failed: {stderr.strip()[-2000:]}",
                              field="site", fix=f"see the generated project in {project}")
    if (staging / "cells").is_dir():
        os.replace(staging / "cells", out / "cells")
    shutil.rmtree(staging, ignore_errors=True)
    figures.update(generate_s=round(t1 - t0, 2), mkdocs_and_cells_s=round(t2 - t1, 2),
                   total_s=round(time.perf_counter() - t0, 2), out=str(out))
    return figures
