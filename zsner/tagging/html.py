"""Entities highlighted by type in their original text, displaCy-style, as HTML with no external asset (inline
CSS, no script, no font or image fetched). ``render_page`` is ``zsner tag --output-format html``; ``render_documents``
is the fragment the server's page shows."""
from __future__ import annotations

import html

from .document import Document

COLOURS = {"PER": "#aa9cfc", "LOC": "#ff9561", "ORG": "#7aecec", "MISC": "#e4e7d2"}
OTHER = ["#bfe1d9", "#feca74", "#c887fb", "#ddd", "#f0d0ff"]  # types outside CoNLL's four, in order of appearance

STYLE = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
.doc { line-height: 2.4; white-space: pre-wrap; border-bottom: 1px solid #eee; padding: 1em 0; direction: auto; }
mark.entity { padding: 0.2em 0.35em; margin: 0 0.15em; border-radius: 0.35em; line-height: 1; }
mark.entity .label { font-size: 0.65em; font-weight: bold; text-transform: uppercase; margin-left: 0.4em;
  vertical-align: middle; }
.legend span { padding: 0.1em 0.5em; border-radius: 0.3em; margin-right: 0.5em; font-size: 0.8em; }
"""


def colour_of(label: str, seen: dict) -> str:
    if label in COLOURS:
        return COLOURS[label]
    if label not in seen:
        seen[label] = OTHER[len(seen) % len(OTHER)]
    return seen[label]


def render_document(document: Document, seen: dict | None = None) -> str:
    """One document's text with each entity wrapped in a coloured ``<mark>`` (title: label and score)."""
    seen = {} if seen is None else seen
    parts, position = [], 0
    for span in sorted(document.entities, key=lambda item: item.start):
        parts.append(html.escape(document.text[position:span.start]))
        colour = colour_of(span.label, seen)
        parts.append(f'<mark class="entity" data-label="{html.escape(span.label)}" style="background: {colour}" '
                     f'title="{html.escape(span.label)} {span.score:.3f}">{html.escape(span.text)}'
                     f'<span class="label">{html.escape(span.label)}</span></mark>')
        position = span.end
    parts.append(html.escape(document.text[position:]))
    return '<div class="doc">' + "".join(parts) + "</div>"


def render_documents(documents: list[Document]) -> str:
    seen: dict = {}
    body = "\n".join(render_document(document, seen) for document in documents)
    labels = sorted({span.label for document in documents for span in document.entities})
    legend = "".join(f'<span style="background: {colour_of(label, seen)}">{html.escape(label)}</span>'
                     for label in labels)
    return f'<div class="legend">{legend}</div>\n{body}'


def render_page(documents: list[Document], title: str = "zsner") -> str:
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{render_documents(documents)}\n</body></html>\n")
