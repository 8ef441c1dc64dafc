"""The grid's gathered results: ``results.json`` (every step's status, attempts, wall and CPU seconds; the
comparison rows) and ``results.md`` (the `zsner compare` table of its finished folders, then the steps)."""
from __future__ import annotations

from ..atomic import write_json, write_text
from ..compare import CRITERIA, compare_rows, markdown
from .plan import GridPlan


def write_results(plan: GridPlan, results: dict, wall_seconds: float, spec: dict) -> str:
    """Write both files into the grid folder; returns the Markdown."""
    ok = {result["folder"] for result in results.values() if result["status"] in ("done", "reused")}
    folders = [folder for folder in plan.results_folders() if folder in ok]
    rows = compare_rows(folders) if folders else []
    steps = ["| step | status | attempts | seconds | CPU seconds |", "|---|---|---|---|---|"]
    steps += [f"| {r['kind']} {r['name']} | {r['status']} | {r.get('attempts') or '–'} | "
              f"{r.get('seconds') or '–'} | {r.get('cpu_seconds') or '–'} |" for r in results.values()]
    text = (markdown(rows) if rows else "No finished runs.\n") + f"\nWall time: {wall_seconds:.1f} s\n\n" + \
        "\n".join(steps) + "\n"
    write_json(plan.out / "results.json", {"spec": spec, "wall_seconds": round(wall_seconds, 1),
                                           "steps": list(results.values()), "criteria": list(CRITERIA), "rows": rows})
    write_text(plan.out / "results.md", text)
    return text
