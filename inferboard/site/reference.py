"""Reference pages generated at site-build time from what the code reads, so they cannot drift from it.

- ``reference/data.md``: the data dictionary, from every exported JSON Schema in ``workflows/schemas/``;
- ``reference/runners.md``: every runner under ``runners/`` (images by digest with their sources, local mode);
- ``reference/hardware.md``: the SKU catalogue ``hardware/skus.yaml``, every figure with its sources;
- pages handed in by the caller (``extra_pages``: the CLI reference comes from ``inferboard.cli.reference_page``,
  a layer above this one).

Like the other generated pages, their body is HTML escaped here (markupsafe) and placed after the sentinel,
so ``site/hooks.py`` hands it to the page without passing it through Markdown: a name is never markup.
:func:`add_pages` writes them into the generated mkdocs project and adds them, with the hand-written guide
pages of ``site/docs/guide/``, to the navigation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from markupsafe import Markup, escape

from inferboard.core.paths import REPO_ROOT
from inferboard.core.yamltext import load_yaml

if TYPE_CHECKING:
    from inferboard.hardware.sku import Sku
    from inferboard.runtimes.runner import Runner

SCHEMAS_DIR = REPO_ROOT / "workflows" / "schemas"
SENTINEL = "<!-- inferboard:html -->"  # the marker of site/hooks.py: what follows bypasses Markdown
#: hand-written pages under site/docs/guide/, in navigation order (others found there are appended by title)
GUIDE = ("setup.md", "running.md", "pipeline.md", "containers.md", "hardware.md", "client.md", "site.md")
#: where the rows a schema describes are found, for the schemas this suite exports today
SCHEMA_WHERE = {
    "summary_row": "one row per (trial, load point) and per load point in <code>summary.parquet</code>; the "
                   "aggregate rows of the accepted bundles' cells make the leaderboard "
                   "(<code>inferboard leaderboard</code>), each with where it comes from",
    "leaderboard_row": "one row per load point of each leaderboard entry in the leaderboard Parquet file "
                       "(<code>inferboard leaderboard</code>), the accepted bundles in its "
                       "<code>inferboard.bundles</code> metadata",
    "manifest": "<code>data/submissions/&lt;id&gt;/manifest.json</code> of each submission bundle",
    "reproduction": "<code>data/submissions/&lt;id&gt;/reproductions/*.json</code>, one per reproduction record",
    "request_record": "one row per issued request in <code>requests.parquet</code>",
    "accuracy_row": "one row per prompt of the accuracy gate in <code>accuracy.parquet</code>",
    "window_row": "one row per time window of each (trial, load point) in <code>windows.parquet</code>",
    "workload": "the standard workloads (<code>workflows/workloads/*.yaml</code>) and any "
                "<code>--workload FILE</code>",
    "config": "the pipeline's configuration, <code>workflows/config/config.yaml</code>",
}
_GITHUB_SOURCE = re.compile(r"^([\w.-]+/[\w.-]+)@([0-9a-f]{7,40}):([^#\s]+)(#L\d+)?$")


# ------------------------------------------------------------------ helpers
def page(title: str, body: str | Markup, *, toc: bool = False) -> str:
    """A generated page: front matter (title) and ``body``, HTML that bypasses Markdown (see site/hooks.py)."""
    front: dict[str, Any] = {"title": title} if toc else {"title": title, "hide": ["toc"]}
    return "---\n" + str(yaml.safe_dump(front, sort_keys=True)) + "---\n\n" + SENTINEL + "\n" + str(body)


def anchor(*parts: str) -> str:
    """An HTML id from ``parts`` (lower case letters, digits and dashes)."""
    return "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") or "x" for p in parts)


def code(text: Any) -> Markup:
    return Markup("<code>{}</code>").format(text)


def table(header: Iterable[str], rows: Iterable[Iterable[Any]], *, cls: str = "") -> Markup:
    """An HTML table; cells are escaped unless they are Markup already."""
    head = Markup("").join(Markup("<th>{}</th>").format(h) for h in header)
    body = Markup("\n").join(
        Markup("<tr>{}</tr>").format(Markup("").join(Markup("<td>{}</td>").format(c) for c in row)) for row in rows)
    attr = Markup(' class="{}"').format(cls) if cls else ""
    return Markup('<div class="ib-scroll"><table{}><thead><tr>{}</tr></thead>\n<tbody>\n{}\n</tbody></table></div>'
                  ).format(attr, head, body)


def sectioned_page(title: str, intro: Markup, sections: list[tuple[str, str, Markup]]) -> str:
    """A page of an intro, a table of contents and its (anchor id, label, body) sections."""
    return page(title, intro + contents((i, label) for i, label, _ in sections) +
                Markup("\n").join(body for _, _, body in sections))


def contents(items: Iterable[tuple[str, Any]]) -> Markup:
    """A list of links to the page's sections: (id, label)."""
    lis = Markup("").join(Markup('<li><a href="#{}">{}</a></li>').format(i, label) for i, label in items)
    return Markup("<ul>{}</ul>").format(lis)


def inline(text: str) -> Markup:
    """Plain text escaped, with ``literal`` (docstring style) as code."""
    pieces = re.split(r"``(.+?)``", text)
    return Markup("").join(code(p) if i % 2 else escape(p) for i, p in enumerate(pieces))


def paragraphs(text: str | None) -> Markup:
    """Plain text (docstrings, descriptions) as escaped paragraphs."""
    parts = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text or "") if p.strip()]
    return Markup("").join(Markup("<p>{}</p>").format(inline(p)) for p in parts)


def source_link(text: str) -> Markup:
    """``owner/repo@commit:path#Lnn`` as a link to that file on GitHub; anything else as code."""
    m = _GITHUB_SOURCE.match(text)
    if not m:
        return code(text)
    repo, commit, path, line = m.groups()
    url = f"https://github.com/{repo}/blob/{commit}/{path}{line or ''}"
    return Markup('<a href="{}"><code>{}</code></a>').format(url, text)


def _value(v: Any) -> Markup:
    """A default or constant, as compact JSON in code."""
    return code(json.dumps(v, sort_keys=True, ensure_ascii=False))


# ------------------------------------------------------------------ data dictionary
def schema_type(s: Mapping[str, Any], defs_anchor: str) -> Markup:
    """The type of a JSON Schema node in words: refs link to their definition, unions join with ' or '."""
    if "$ref" in s:
        name = str(s["$ref"]).rsplit("/", 1)[-1]
        return Markup('<a href="#{}">{}</a>').format(anchor(defs_anchor, name), name)
    for key in ("anyOf", "oneOf"):
        if key in s:
            kinds = [schema_type(x, defs_anchor) for x in s[key]]
            out = Markup(" or ").join(kinds)
            disc = s.get("discriminator", {}).get("propertyName")
            return out + (Markup(" (by {})").format(code(disc)) if disc else "")
    if "allOf" in s and len(s["allOf"]) == 1:
        return schema_type(s["allOf"][0], defs_anchor)
    if "const" in s:
        return _value(s["const"])
    if "enum" in s:
        return Markup("one of ") + Markup(", ").join(_value(v) for v in s["enum"])
    kind = s.get("type")
    if isinstance(kind, list):
        out = Markup(" or ").join(escape(k) for k in kind)
    elif kind == "array":
        items = s.get("items")
        out = Markup("array of ") + schema_type(items, defs_anchor) if isinstance(items, Mapping) else \
            Markup("array")
    elif kind == "object" and ("additionalProperties" in s or "patternProperties" in s) and "properties" not in s:
        extra = s.get("additionalProperties")
        pats = s.get("patternProperties", {})
        if pats:
            out = Markup(", ").join(Markup("object: key {} → ").format(code(p)) + schema_type(v, defs_anchor)
                                    for p, v in pats.items())
        elif isinstance(extra, Mapping):
            out = Markup("object of ") + schema_type(extra, defs_anchor)
        else:
            out = Markup("object")
    else:
        out = escape(kind or "any")
    limits = _constraints(s)
    return out + (Markup(" ({})").format(limits) if limits else "")


def _constraints(s: Mapping[str, Any]) -> str:
    words = {"minimum": "≥ {}", "exclusiveMinimum": "> {}", "maximum": "≤ {}", "exclusiveMaximum": "< {}",
             "minItems": "≥ {} items", "maxItems": "≤ {} items", "minLength": "≥ {} characters",
             "maxLength": "≤ {} characters", "pattern": "pattern {}", "format": "format {}"}
    return ", ".join(w.format(s[k]) for k, w in words.items() if k in s)


def _fields_table(node: Mapping[str, Any], defs_anchor: str) -> Markup:
    props: Mapping[str, Any] = node.get("properties", {})
    required = set(node.get("required", []))
    rows = []
    for name, spec in props.items():
        default = _value(spec["default"]) if "default" in spec else ("required" if name in required else "optional")
        rows.append((code(name), schema_type(spec, defs_anchor), default, inline(spec.get("description", ""))))
    if not rows:
        return Markup("<p>No named fields.</p>")
    return table(("field", "type", "default", "description"), rows)


def schema_section(path: Path) -> tuple[str, str, Markup]:
    """(id, label, HTML) of one schema file: its fields, then each of its definitions' fields."""
    schema = json.loads(path.read_text(encoding="utf-8"))
    stem = path.name.removesuffix(".json").removesuffix(".schema")
    sid = anchor("schema", stem)
    title = str(schema.get("title") or stem)
    closed = " · unknown fields are refused" if schema.get("additionalProperties") is False else ""
    parts = [Markup('<h2 id="{}">{}</h2>').format(sid, title),
             Markup("<p>File {} · {} fields{}.</p>").format(code(f"workflows/schemas/{path.name}"),
                                                            len(schema.get("properties", {})), closed)]
    if stem in SCHEMA_WHERE:
        parts.append(Markup("<p>Found in {}.</p>").format(Markup(SCHEMA_WHERE[stem])))
    parts.append(paragraphs(schema.get("description")))
    parts.append(_fields_table(schema, sid))
    for name, node in sorted(schema.get("$defs", {}).items()):
        parts.append(Markup('<h3 id="{}">{} <small>({})</small></h3>').format(anchor(sid, name), name, title))
        parts.append(paragraphs(node.get("description")))
        parts.append(_fields_table(node, sid) if "properties" in node else
                     Markup("<p>Type: {}</p>").format(schema_type(node, sid)))
    return sid, f"{title} ({path.name})", Markup("\n").join(parts)


def data_dictionary(schemas: Path = SCHEMAS_DIR) -> str:
    """The data dictionary page: every field of every ``*.json`` schema file in ``schemas``."""
    files = sorted(schemas.glob("*.json"))
    sections = [schema_section(p) for p in files]
    intro = Markup(
        "<h1>Data dictionary</h1>\n<p>Every file this suite reads or writes is checked against a JSON Schema "
        "exported from its pydantic model (<code>inferboard schema</code> writes them to "
        "<code>workflows/schemas/</code>; <code>inferboard schema --check</code> fails when one is stale). This "
        "page is generated from those files when the site is built: {} schemas.</p>").format(len(files))
    return sectioned_page("Data dictionary", intro, sections)


# ------------------------------------------------------------------ runners
def _image_rows(runner: Runner) -> list[tuple[Any, ...]]:
    rows = []
    for variant, img in sorted(runner.images.items()):
        digest = code(img.digest) if img.digest else Markup('<span class="ib-null">none published: container '
                                                            "mode refuses it</span>")
        if img.source is None:
            src: Markup | str = "—"
        else:
            ref = f"{img.source.repo}@{img.source.commit}:{img.source.path}" if img.source.commit else \
                f"{img.source.repo}:{img.source.path}"
            src = source_link(ref)
        rows.append((variant, code(f"{img.image}:{img.tag}" if img.tag else img.image), digest, src))
    return rows


def _local_mode(local: Any) -> Markup:
    if local is None:
        return Markup("none (container mode or <code>--endpoint</code> only)")
    kind = local.kind
    if kind == "venv":
        what = Markup("a virtual environment from the hashed lock {}").format(code(local.lock))
        if local.remove_after_install:
            what += Markup(", then removes {}").format(", ".join(local.remove_after_install))
    elif kind == "cmake":
        what = Markup("compiled from {} ({} of {}), target {}").format(
            code(local.sdist), code(local.source_subdir), code(f"sha256:{local.sha256}"), code(local.target))
        if local.cmake_args:
            what += Markup("; CMake arguments {}").format(code(" ".join(local.cmake_args)))
    else:
        reqs = ", ".join(f"{k}{v}" for k, v in sorted(local.requires.items()))
        what = Markup("the host's own Python packages, checked: {}").format(code(reqs))
    out = Markup("{}: {}").format(code(kind), what)
    if local.provenance_note:
        out += Markup(". <em>{}</em>").format(local.provenance_note)
    return out


def runner_section(runner: Runner) -> tuple[str, str, Markup]:
    """(id, label, HTML) of one runner."""
    rid = anchor("runner", runner.name)
    home = Markup('<a href="{0}">{0}</a>').format(runner.homepage) if runner.homepage.startswith("https://") \
        else escape(runner.homepage)
    names = runner.metrics.names.model_dump(exclude_none=True)
    extra = names.pop("extra", [])
    scraped = [f"{k}: {v}" for k, v in sorted(names.items())] + list(extra)
    api = runner.api
    kv = [
        ("name", code(runner.name)),
        ("homepage", home),
        ("default port", runner.default_port),
        ("API", Markup("{} (chat {}, completions {}); output length {} ({}); requests name the {}").format(
            api.flavor, "yes" if api.chat else "no", "yes" if api.completions else "no",
            "forced" if api.forces_output_length else "not forced", api.length_control, api.request_model)),
        ("readiness", Markup("GET {} every {} s, for at most {} s").format(
            code(runner.readiness.path), runner.readiness.interval_s, runner.readiness.timeout_s)),
        ("Prometheus metrics", Markup("{}: {}").format(code(runner.metrics.path), ", ".join(scraped) or "—")
         if runner.metrics.path else Markup('<span class="ib-null">none scraped</span>')),
        ("local mode", _local_mode(runner.local)),
        ("container launch", code(" ".join(runner.launch.argv))),
    ]
    if runner.local is not None:
        kv.append(("local launch", code(" ".join(runner.local.launch.argv))))
    params = sorted(runner.params.items())
    parts = [Markup('<h2 id="{}">{}</h2>').format(rid, runner.display_name),
             Markup('<table class="ib-kv"><tbody>{}</tbody></table>').format(
                 Markup("").join(Markup("<tr><th>{}</th><td>{}</td></tr>").format(k, v) for k, v in kv)),
             Markup("<h3>Images</h3>"),
             table(("variant", "image", "digest", "source of the digest"), _image_rows(runner))
             if runner.images else Markup("<p>No published image: local mode only.</p>"),
             Markup("<h3>Parameters</h3>"),
             table(("placeholder", "default"), [(code(f"{{{k}}}"), _value(v)) for k, v in params])
             if params else Markup("<p>None declared.</p>")]
    return rid, runner.display_name, Markup("\n").join(parts)


def runners_page(runners: Mapping[str, Runner] | None = None) -> str:
    """Every runner definition (``runners/<name>/runner.yaml``), as the suite loads it."""
    if runners is None:
        from inferboard.runtimes.runner import all_runners

        runners = all_runners()
    sections = [runner_section(r) for _, r in sorted(runners.items())]
    intro = Markup(
        "<h1>Runners</h1>\n<p>How each runtime is started, probed and scraped: generated from "
        "<code>runners/&lt;runtime&gt;/runner.yaml</code> when the site is built. Container mode runs an image only "
        "by its digest, copied from a public source named beside it; placeholders in the launch templates are the "
        "built-ins (<code>{{model}}</code>, <code>{{port}}</code>, …) or the declared parameters, set with "
        "<code>--param NAME=VALUE</code>. {} runners.</p>").format(len(sections))
    return sectioned_page("Runners", intro, sections)


# ------------------------------------------------------------------ hardware
FIGURES = (("memory_gb", "memory", "GB"), ("memory_bandwidth_tbps", "memory bandwidth", "TB/s"),
           ("bf16_dense_tflops", "BF16 dense", "TFLOPS"), ("fp8_dense_tflops", "FP8 dense", "TFLOPS"),
           ("tdp_w", "TDP", "W"), ("price_per_gpu_hour_usd", "price", "USD / GPU-hour"))


def _figure(v: Any, unit: str) -> Markup:
    return Markup('<span class="ib-null">—</span>') if v is None else Markup("{:g} {}").format(v, unit)


def sku_section(sku: Sku) -> tuple[str, str, Markup]:
    """(id, label, HTML) of one SKU: each figure with its sources and the alternatives found."""
    sid = anchor("sku", sku.id)
    rows = []
    for key, label, unit in (*FIGURES, ("interconnect", "interconnect", "")):
        v = getattr(sku, key)
        value = (escape(v) if isinstance(v, str) else _figure(v, unit)) if v is not None else \
            Markup('<span class="ib-null">— no cited source</span>')
        srcs = Markup("<br>").join(source_link(s) for s in sku.sources.get(key, [])) or "—"
        alts = ", ".join(str(a) for a in sku.alternatives.get(key, [])) or "—"
        rows.append((label, value, srcs, alts))
    match = ", ".join(sku.match.names) or "—"
    if sku.match.pci_device_ids:
        match += " · PCI " + ", ".join(sku.match.pci_device_ids)
    parts = [Markup('<h2 id="{}">{}</h2>').format(sid, sku.name),
             Markup("<p>SKU id {} · {}{}{} · identified by {}</p>").format(
                 code(sku.id), sku.kind, Markup(", ") + escape(sku.vendor) if sku.vendor else "",
                 Markup(" · reference {}").format(code(sku.reference_id)) if sku.reference_id else "", match),
             paragraphs(sku.note),
             table(("figure", "value", "sources", "other values found"), rows)]
    return sid, sku.name, Markup("\n").join(parts)


def hardware_page(skus: Mapping[str, Sku] | None = None) -> str:
    """The SKU catalogue (``hardware/skus.yaml``): an overview table and every figure with its sources."""
    if skus is None:
        from inferboard.hardware.sku import load_skus

        skus = load_skus()
    ordered = list(skus.values())
    overview = table(
        ("SKU", "name", "vendor", *(f"{label} ({unit})" for _, label, unit in FIGURES)),
        [(Markup('<a href="#{}">{}</a>').format(anchor("sku", s.id), s.id), s.name, s.vendor or "—",
          *(Markup('<span class="ib-null">—</span>') if getattr(s, k) is None else Markup("{:g}").format(getattr(s, k))
            for k, _, _ in FIGURES)) for s in ordered], cls="ib-sortable")
    intro = Markup(
        "<h1>SKU catalogue</h1>\n<p>The hardware this suite knows, generated from <code>hardware/skus.yaml</code> "
        "when the site is built ({} SKUs). Every figure keeps the public sources it was read from, and one without "
        "a source is null (loading the catalogue fails otherwise). The rooflines and plausibility checks of "
        "GPU rows use these figures; without a cited memory bandwidth a row gets no roofline, and without a "
        "cited price no goodput per dollar.</p>").format(len(ordered))
    sections = [sku_section(s) for s in ordered]
    return page("SKU catalogue", intro + overview + Markup("\n").join(body for _, _, body in sections))


# ------------------------------------------------------------------ the project
def reference_pages() -> dict[str, str]:
    """The pages generated here: path under docs/ → page text."""
    return {"reference/data.md": data_dictionary(), "reference/runners.md": runners_page(),
            "reference/hardware.md": hardware_page()}


def page_title(text: str, default: str) -> str:
    """The title of a page: its front matter's, else its first '# ' heading, else ``default``."""
    if text.startswith("---\n"):
        front = load_yaml(text[4:].partition("\n---")[0]) or {}
        if isinstance(front, dict) and front.get("title"):
            return str(front["title"])
    m = re.search(r"^# (.+)$", text, flags=re.MULTILINE)
    return m.group(1).strip() if m else default


def add_pages(project: Path, extra_pages: Mapping[str, str] | None = None) -> None:
    """Write the reference pages and ``extra_pages`` (path → text) into ``project``/docs, and add the Guide
    (site/docs/guide/*.md, copied there already) and Reference sections to the navigation of its mkdocs.yml."""
    docs = project / "docs"
    pages = {**reference_pages(), **(extra_pages or {})}
    for path, text in pages.items():
        out = docs / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    guide_dir = docs / "guide"
    found = sorted(p.name for p in guide_dir.glob("*.md")) if guide_dir.is_dir() else []
    order = [n for n in GUIDE if n in found] + [n for n in found if n not in GUIDE]
    guide = [{page_title((guide_dir / n).read_text(encoding="utf-8"), n)[:80]: f"guide/{n}"} for n in order]
    reference = [{page_title(text, path): path} for path, text in sorted(pages.items())]
    cfg_path = project / "mkdocs.yml"
    cfg = load_yaml(cfg_path.read_text())
    nav = cfg.setdefault("nav", [])
    if guide:
        nav.append({"Guide": guide})
    nav.append({"Reference": reference})
    cfg_path.write_text(yaml.safe_dump(cfg, sort_keys=False))
