"""The page at ``GET /``: a text box and a "Tag" button; the answer of ``POST /tag?format=html`` (the entities
highlighted by type, ``zsner.tagging.html.render_documents``) shown under it. Self-contained: inline CSS and
script, nothing fetched but ``/tag`` itself."""
from __future__ import annotations

import html

from ..tagging.html import STYLE

CONTROLS = """
textarea { width: 100%; box-sizing: border-box; font: inherit; padding: 0.6em; }
button { font: inherit; padding: 0.4em 1.6em; margin: 0.6em 0; cursor: pointer; }
.about { color: #666; font-size: 0.85em; } .error { color: #b00020; }
"""

SCRIPT = """
const box = document.getElementById("text"), button = document.getElementById("tag"),
      out = document.getElementById("out");
async function tag() {
  button.disabled = true;
  out.className = ""; out.textContent = "tagging ...";
  try {
    const response = await fetch("tag?format=html", {method: "POST", headers: {"Content-Type": "application/json"},
                                                      body: JSON.stringify({text: box.value})});
    if (response.ok) { out.innerHTML = await response.text(); }
    else { out.className = "error"; out.textContent = (await response.json()).error; }
  } catch (err) { out.className = "error"; out.textContent = String(err); }
  button.disabled = false;
}
button.addEventListener("click", tag);
box.addEventListener("keydown", (event) => { if (event.key === "Enter" && event.ctrlKey) tag(); });
"""


def render(info: dict) -> str:
    about = html.escape(f"{info.get('model', '')} ({info.get('kind', '')}, {info.get('lang') or '?'}, "
                        f"{info.get('device', '')})")
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>zsner</title>'
            f"<style>{STYLE}{CONTROLS}</style></head>\n<body>\n<h2>zsner</h2><p class=\"about\">{about}</p>\n"
            '<textarea id="text" rows="8" placeholder="Text to tag (Ctrl+Enter tags it)"></textarea><br>\n'
            '<button id="tag" type="button">Tag</button>\n<div id="out"></div>\n'
            f"<script>{SCRIPT}</script>\n</body></html>\n")
