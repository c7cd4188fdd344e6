"""One report page written twice: self-contained HTML and Markdown.

HTML embeds every image as a base64 PNG (one file to mail or archive);
Markdown refers to the same images copied into ``<stem>_files/`` beside it.
"""

from __future__ import annotations

import base64
import html
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..io import atomic_path

__all__ = ["Page", "fmt_value"]

_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;border-bottom:2px solid #345;padding-bottom:.2em}
h2{font-size:1.3em;margin-top:1.6em;border-bottom:1px solid #ccc}
h3{font-size:1.1em}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#eef2f6}
tr:nth-child(even) td{background:#fafafa}
figure{margin:1em 0;display:inline-block;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.85em;color:#555;max-width:560px}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;font-size:.8em}
.note{color:#666;font-size:.9em}
.fail{color:#b00;font-weight:bold}
"""


def fmt_value(v: Any) -> str:
    """Numbers with 4 significant digits; NaN as an en dash."""
    if isinstance(v, (float, np.floating)):
        if not np.isfinite(v):
            return "–" if np.isnan(v) else str(v)
        return f"{v:.4g}"
    return str(v)


def fmt_mean_std(mean: float, std: float, n: int) -> str:
    """'mean ± std' (fmt_value each), the ± part only when ``n > 1`` values gave a finite std."""
    text = fmt_value(float(mean))
    if n > 1 and np.isfinite(std):
        text += f" ± {fmt_value(float(std))}"
    return text


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "figure"


@dataclass
class _Figure:
    png: bytes
    caption: str
    name: str


@dataclass
class Page:
    """Blocks of a report, rendered by :meth:`write` as ``<stem>.html`` and ``<stem>.md``.

    Parameters
    ----------
    title : str
        Page title (first heading).
    """

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    _names: set[str] = field(default_factory=set)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", (text, level)))

    def text(self, text: str, *, note: bool = False) -> None:
        """A paragraph of plain text (escaped)."""
        self.blocks.append(("text", (text, note)))

    def code(self, text: str, summary: str) -> None:
        """Preformatted text in a collapsible block (HTML) / fenced block (Markdown)."""
        self.blocks.append(("code", (text, summary)))

    def table(self, df: pd.DataFrame, *, highlight: str | None = None) -> None:
        """A table; rows whose column ``highlight`` is not ``pass`` are marked (HTML)."""
        self.blocks.append(("table", (df.reset_index(drop=True), highlight)))

    def figure(self, png: bytes, caption: str, name: str | None = None) -> None:
        """An image (PNG bytes) with a caption; ``name`` is its file stem for Markdown."""
        stem = _slug(name or caption)[:60]
        base, i = stem, 1
        while stem in self._names:
            i += 1
            stem = f"{base}-{i}"
        self._names.add(stem)
        self.blocks.append(("figure", _Figure(png, caption, stem)))

    def links(self, items: list[tuple[str, str]]) -> None:
        """A list of (label, relative path) links."""
        self.blocks.append(("links", items))

    # ------------------------------------------------------------------ rendering

    def _html(self) -> str:
        out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
               f"<title>{html.escape(self.title)}</title>", f"<style>{_CSS}</style></head><body>",
               f"<h1>{html.escape(self.title)}</h1>"]
        for kind, val in self.blocks:
            if kind == "heading":
                text, level = val
                out.append(f"<h{level} id='{_slug(text)}'>{html.escape(text)}</h{level}>")
            elif kind == "text":
                text, note = val
                cls = " class='note'" if note else ""
                out.append(f"<p{cls}>{html.escape(text)}</p>")
            elif kind == "code":
                text, summary = val
                out.append(f"<details><summary>{html.escape(summary)}</summary>"
                           f"<pre>{html.escape(text)}</pre></details>")
            elif kind == "table":
                out.append(_html_table(*val))
            elif kind == "figure":
                b64 = base64.b64encode(val.png).decode("ascii")
                out.append(f"<figure><img alt='{html.escape(val.caption, quote=True)}' "
                           f"src='data:image/png;base64,{b64}'>"
                           f"<figcaption>{html.escape(val.caption)}</figcaption></figure>")
            elif kind == "links":
                out.append("<ul>" + "".join(
                    f"<li><a href='{html.escape(href, quote=True)}'>{html.escape(label)}</a></li>"
                    for label, href in val) + "</ul>")
        out.append(f"<p class='note'>synthvec {__version__}</p></body></html>")
        return "\n".join(out)

    def _markdown(self, files_dir: str) -> str:
        out = [f"# {self.title}", ""]
        for kind, val in self.blocks:
            if kind == "heading":
                text, level = val
                out += ["#" * level + " " + text, ""]
            elif kind == "text":
                out += [("*" + val[0] + "*") if val[1] else val[0], ""]
            elif kind == "code":
                out += [f"{val[1]}:", "", "```", val[0].rstrip(), "```", ""]
            elif kind == "table":
                out += [_md_table(val[0]), ""]
            elif kind == "figure":
                out += [f"![{val.caption}]({files_dir}/{val.name}.png)", "", f"*{val.caption}*", ""]
            elif kind == "links":
                out += [f"- [{label}]({href})" for label, href in val] + [""]
        out.append(f"*synthvec {__version__}*")
        return "\n".join(out) + "\n"

    def write(self, out_dir: str | os.PathLike, stem: str = "report") -> Path:
        """Write ``out_dir/<stem>.html``, ``<stem>.md`` and ``<stem>_files/*.png``; return the HTML path."""
        out_dir = Path(out_dir)
        files = out_dir / f"{stem}_files"
        files.mkdir(parents=True, exist_ok=True)
        wanted = set()
        for kind, val in self.blocks:
            if kind == "figure":
                wanted.add(f"{val.name}.png")
                with atomic_path(files / f"{val.name}.png") as tmp:
                    tmp.write_bytes(val.png)
        for old in files.glob("*.png"):  # figures of an earlier report that are gone
            if old.name not in wanted:
                old.unlink()
        with atomic_path(out_dir / f"{stem}.md") as tmp:
            tmp.write_text(self._markdown(f"{stem}_files"), encoding="utf-8")
        path = out_dir / f"{stem}.html"
        with atomic_path(path) as tmp:
            tmp.write_text(self._html(), encoding="utf-8")
        return path


def _cells(df: pd.DataFrame) -> list[list[str]]:
    return [[fmt_value(v) for v in row] for row in df.itertuples(index=False)]


def _html_table(df: pd.DataFrame, highlight: str | None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    flags = (df[highlight] != "pass").tolist() if highlight in df.columns else [False] * len(df)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]
    for cells, bad in zip(_cells(df), flags):
        cls = " class='fail'" if bad else ""
        rows.append(f"<tr{cls}>" + "".join(
            f"<td class='num'>{html.escape(c)}</td>" if num else f"<td>{html.escape(c)}</td>"
            for c, num in zip(cells, numeric)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _md_table(df: pd.DataFrame) -> str:
    def esc(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(esc(str(c)) for c in df.columns) + " |",
             "|" + "|".join("---" for _ in df.columns) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in cells) + " |" for cells in _cells(df)]
    return "\n".join(lines)
