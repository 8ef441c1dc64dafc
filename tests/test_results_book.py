"""The results book (docs/results/): every relative Markdown link resolves, file and #anchor (GitHub's rules)."""
import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parent.parent
BOOK = ROOT / "docs" / "results"
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REF_DEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
HTML_ID = re.compile(r"<a\s+[^>]*(?:id|name)=\"([^\"]+)\"")


def slug(heading):
    """GitHub's anchor for a heading: rendered text, lower case, only letters, marks, numbers, '-', '_' and
    spaces kept, each space a '-' (runs are not collapsed)."""
    t = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip())
    t = re.sub(r"<[^>]+>", "", t).replace("`", "").replace("*", "").lower()
    t = "".join(c for c in t if unicodedata.category(c)[0] in "LMN" or c in "-_ ")
    return t.replace(" ", "-")


def prose_lines(text):
    """(line number, line, line with inline code spans blanked) outside fenced and indented code blocks."""
    fenced = False
    for n, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if fenced or (line.startswith("    ") and not line.lstrip().startswith("|")):
            continue
        yield n, line, re.sub(r"`[^`]*`", "``", line)


def anchors(text):
    seen, found = {}, set()
    for _, line, prose in prose_lines(text):
        found.update(HTML_ID.findall(prose))
        m = HEADING.match(line)
        if m:
            s = slug(m.group(2))
            found.add(s if s not in seen else f"{s}-{seen[s]}")
            seen[s] = seen.get(s, 0) + 1
    return found


def links(text):
    for n, _, prose in prose_lines(text):
        for target in LINK.findall(prose):
            yield n, target
        m = REF_DEF.match(prose)
        if m:
            yield n, m.group(1)


def broken_links(paths):
    """'file:line: target (why)' for every relative link that does not resolve."""
    cache, bad = {}, []

    def anchors_of(path):
        if path not in cache:
            cache[path] = anchors(path.read_text(encoding="utf-8"))
        return cache[path]

    for path in paths:
        for n, target in links(path.read_text(encoding="utf-8")):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):   # http:, mailto:, ...
                continue
            file_part, _, fragment = target.partition("#")
            dest = (path.parent / unquote(file_part)).resolve() if file_part else path
            where = f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}:{n}: {target}"
            if not dest.exists():
                bad.append(f"{where} (no such file)")
            elif fragment and dest.suffix == ".md" and unquote(fragment) not in anchors_of(dest):
                bad.append(f"{where} (no such anchor)")
    return bad


def book_files():
    return sorted(BOOK.glob("*.md")) + [ROOT / "docs" / "RESULTS.md", ROOT / "README.md"]


def test_slug_follows_githubs_rules():
    assert slug("5.7 Headline table: the best zsner system per target over ≥ 3 seeds (issue 12, item 7), "
                "2026-11-29 03:11–04:53") == ("57-headline-table-the-best-zsner-system-per-target-over--3-seeds-"
                                              "issue-12-item-7-2026-11-29-03110453")
    assert slug("4.1 `bash run.sh en es --mode augmented` from a fresh checkout") == \
        "41-bash-runsh-en-es---mode-augmented-from-a-fresh-checkout"
    assert slug("11. Language clusters, **capped**") == "11-language-clusters-capped"
    assert slug("Über [the book](README.md) snake_case Straße") == "über-the-book-snake_case-straße"
    text = "# Results\n\n## Results\n\n    # not a heading\n\n## Results\n\n## 3. Map, `zsner map` (issue 3)\n"
    assert anchors(text) == {"results", "results-1", "results-2", "3-map-zsner-map-issue-3"}


def test_a_broken_file_or_anchor_is_reported_and_code_is_not_read(tmp_path):
    (tmp_path / "b.md").write_text("# B title\n\n<a id=\"kept\"></a>\n", encoding="utf-8")
    (tmp_path / "pic.png").write_bytes(b"")
    (tmp_path / "a.md").write_text(
        "# A\n\n[ok](b.md#b-title) [ok](b.md#kept) [ok](#a) ![img](pic.png) [web](https://example.org/x#y)\n"
        "[gone](missing.md) [no anchor](b.md#nope) [self](#nope-here)\n\n"
        "    [in code](missing-too.md)\n\n```\n[fenced](missing-three.md)\n```\n`[span](missing-four.md)`\n"
        "[ref]: b.md#b-title\n[badref]: b.md#absent\n", encoding="utf-8")
    bad = broken_links([tmp_path / "a.md"])
    assert [b.split(": ", 1)[1] for b in bad] == [
        "missing.md (no such file)", "b.md#nope (no such anchor)", "#nope-here (no such anchor)",
        "b.md#absent (no such anchor)"]


def test_every_link_of_the_book_and_the_readme_resolves():
    assert BOOK.is_dir()
    assert broken_links(book_files()) == []


def test_the_book_opens_with_the_headline_and_lists_every_file():
    readme = (BOOK / "README.md").read_text(encoding="utf-8")
    h2 = [line for line in readme.split("\n") if line.startswith("## ")]
    assert h2[0].startswith("## Headline")
    headline = readme.split(h2[0], 1)[1].split("\n## ", 1)[0]
    assert "multilingual-e5-small (4-bit dequantised), not mBERT or XLM-R" in headline
    rows = [r for r in headline.split("\n") if re.match(r"^\| (es|nl|de|fi|ar) \|", r)]
    assert [r.split("|")[1].strip() for r in rows] == ["es", "nl", "de", "fi", "ar"]
    assert all(re.search(r"\[§[\d.]+\]\([a-z-]+\.md#[^)]+\)", r) for r in rows)
    pointer = (ROOT / "docs" / "RESULTS.md").read_text(encoding="utf-8")
    for f in BOOK.glob("*.md"):
        assert f"({f.name})" in readme or f.name == "README.md", f.name
        assert f"(results/{f.name})" in pointer, f.name
