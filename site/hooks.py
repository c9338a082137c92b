"""mkdocs hooks of the leaderboard site.

Generated pages put their body after SENTINEL as HTML that jinja2 already escaped; it is held back from
Markdown (which would interpret names such as ``**x**`` or ``[a](javascript:…)``) and appended to the
rendered content unchanged.
"""

from __future__ import annotations

SENTINEL = "<!-- inferboard:html -->"
_held: dict[str, str] = {}


def on_page_markdown(markdown, page, config, files):
    head, sep, html = markdown.partition(SENTINEL)
    if sep:
        _held[page.file.src_uri] = html
    return head


def on_page_content(html, page, config, files):
    return html + _held.pop(page.file.src_uri, "")
