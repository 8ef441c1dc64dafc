"""``zsner curves``: per-evaluation dev-F1 curves of several run folders in one PNG (Moon et al., Fig. 2–3).

    zsner curves runs/frz-1 runs/frz0 runs/frz3 runs/frz6 runs/frz9 --out runs/frz-curves.png [--label-by freeze_layers]

Reads only each folder's ``loss.tsv`` and ``config.json`` (a ``zsner transformer`` run, or a classic variant folder
such as ``runs/en-es-shared/seed1/shared``); every folder is read and checked before the PNG is written. One panel
per dev series, one line per run: source dev (``src_dev_f1`` / ``src-dev_f1``), each target language
(``tgt_dev_f1_<lang>`` columns where a run wrote them; else ``tgt_dev_f1``: that target's F1, or the mean over the
run's targets for a multi-target run, drawn in its own panel) and ``dev_f1`` (``zsner train``). Lines are labelled
by ``--label-by`` config fields (default: the fields whose values differ between the runs, runtime fields aside;
the folder names when none or more than three differ). A table of each run's best and last dev F1 is printed.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .errors import ZsnerError
from .jsonfile import read_json

RUNTIME_FIELDS = {"data_dir", "threads", "device", "progress", "save_checkpoints", "eval_batch_size", "mapping_dir"}
MAX_DEFAULT_FIELDS = 3
X_AXES = {"step": "optimizer step", "epoch": "epoch"}


def _existing(path: Path) -> Path:
    if not path.is_file():
        raise ZsnerError("missing run file", path)
    return path


def _read_text(path: Path) -> str:
    _existing(path)
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ZsnerError(f"unreadable run file ({err.__class__.__name__}: {err})", path) from None


def read_config(path: Path) -> dict:
    """``config.json`` flattened to ``{field: value}`` and ``{section.field: value}`` (first section wins)."""
    data = read_json(_existing(path), "run configuration")
    flat: dict = {}
    for section, values in data.items():
        if isinstance(values, dict):
            for name, value in values.items():
                flat.setdefault(name, value)
                flat[f"{section}.{name}"] = value
        else:
            flat.setdefault(section, values)
    return flat


def read_loss_tsv(path: Path) -> tuple[list[str], list[dict]]:
    """Header and rows of a ``loss.tsv`` (``-`` in column names read as ``_``); cells as floats, ``None`` if empty
    (``phase`` kept as text). Rows of the wrong width or with non-numbers stop with the file and line."""
    lines = _read_text(path).splitlines()
    if not lines or not lines[0].strip():
        raise ZsnerError("empty loss.tsv", path)
    columns = [name.strip().replace("-", "_") for name in lines[0].split("\t")]
    if "step" not in columns:
        raise ZsnerError("loss.tsv header has no step column", path, 1)
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        cells = line.split("\t")
        if len(cells) != len(columns):
            raise ZsnerError(f"{len(cells)} cells, header has {len(columns)}", path, number)
        row = {}
        for name, cell in zip(columns, cells):
            cell = cell.strip()
            if name == "phase":
                row[name] = cell
                continue
            try:
                row[name] = float(cell) if cell else None
            except ValueError:
                raise ZsnerError(f"{name} is not a number: {cell!r}", path, number) from None
            if row[name] is not None and not math.isfinite(row[name]):
                raise ZsnerError(f"{name} is not finite: {cell!r}", path, number)
        if row["step"] is None:
            raise ZsnerError("empty step", path, number)
        rows.append(row)
    return columns, rows


def _languages(config: dict, role: str) -> str:
    value = config.get(f"train.{role}") or config.get(f"transfer.{role}") or config.get(role)
    if value is None and role == "src":
        value = config.get("train.lang")
    return ",".join(value) if isinstance(value, list) else str(value or "")


def panels(columns: list[str], config: dict) -> dict[str, str]:
    """Panel title → the loss.tsv column drawn in it."""
    src, tgt = _languages(config, "src"), _languages(config, "tgt")
    out = {}
    if "src_dev_f1" in columns:
        out[f"source dev: {src}" if src else "source dev"] = "src_dev_f1"
    per_language = [name for name in columns if name.startswith("tgt_dev_f1_")]
    for name in per_language:
        out[f"target dev: {name[len('tgt_dev_f1_'):]}"] = name
    if not per_language and "tgt_dev_f1" in columns:
        title = "target dev" + (f": mean of {tgt}" if "," in tgt else f": {tgt}" if tgt else "")
        out[title] = "tgt_dev_f1"
    if "dev_f1" in columns:
        out[f"dev: {src}" if src else "dev"] = "dev_f1"
    return out


def load_curves(run_dir, x: str = "step") -> dict:
    """One run folder: ``{"dir", "config", "series": {panel: ([x...], [F1...])}}`` (evaluations without a value
    in a column are left out of its series)."""
    path = Path(run_dir)
    if not path.is_dir():
        raise ZsnerError("no such run folder", path)
    config = read_config(path / "config.json")
    columns, rows = read_loss_tsv(path / "loss.tsv")
    if x not in columns:
        raise ZsnerError(f"loss.tsv has no {x} column", path / "loss.tsv", 1)
    chosen = panels(columns, config)
    if not chosen:
        raise ZsnerError("loss.tsv has no dev F1 column (src_dev_f1, tgt_dev_f1, dev_f1)", path / "loss.tsv", 1)
    series = {}
    for title, column in chosen.items():
        points = [(row[x], row[column]) for row in rows if row[column] is not None and row[x] is not None]
        series[title] = ([p[0] for p in points], [p[1] for p in points])
    if not any(ys for _, ys in series.values()):
        raise ZsnerError("loss.tsv holds no evaluation yet", path / "loss.tsv")
    return {"dir": path, "config": config, "series": series}


def _shown(value) -> str:
    if isinstance(value, str) and "/" in value:
        return Path(value).name
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def labels(runs: list[dict], label_by: list[str] | None = None) -> list[str]:
    """Each run's legend label: ``field=value`` of the ``label_by`` fields, else of the fields that differ."""
    if label_by:
        for run in runs:
            for field in label_by:
                if field not in run["config"]:
                    raise ZsnerError(f"no config field {field!r} (--label-by)", run["dir"] / "config.json")
        fields = label_by
    else:
        names = [name for run in runs for name in run["config"] if "." not in name]
        fields = [name for name in dict.fromkeys(names) if name not in RUNTIME_FIELDS
                  and len({json.dumps(run["config"].get(name), sort_keys=True) for run in runs}) > 1]
    if not fields or len(fields) > MAX_DEFAULT_FIELDS and not label_by:
        out = [run["dir"].name for run in runs]
        if len(set(out)) < len(out):
            out = [f"{run['dir'].parent.name}/{run['dir'].name}" for run in runs]
        return out
    out = [", ".join(f"{field}={_shown(run['config'].get(field))}" for field in fields) for run in runs]
    return [f"{label} ({run['dir'].name})" if out.count(label) > 1 else label for label, run in zip(out, runs)]


def draw(runs: list[dict], names: list[str], out, x: str = "step", title: str | None = None) -> None:
    """One panel per dev series (first appearance order), one coloured line per run, written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .atomic import write_png

    order = list(dict.fromkeys(name for run in runs for name in run["series"]))
    ncols = min(len(order), 3)
    nrows = -(-len(order) // ncols)
    figure, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    colours = plt.get_cmap("tab10" if len(runs) <= 10 else "tab20")
    for index, panel in enumerate(order):
        axis = axes[index // ncols][index % ncols]
        for number, (run, name) in enumerate(zip(runs, names)):
            xs, ys = run["series"].get(panel, ([], []))
            if ys:
                axis.plot(xs, ys, marker=".", color=colours(number % colours.N), label=name)
        axis.set_title(panel)
        axis.set_xlabel(X_AXES[x])
        axis.set_ylabel("span F1 (%)")
        axis.grid(alpha=0.3)
    for index in range(len(order), nrows * ncols):
        axes[index // ncols][index % ncols].set_visible(False)
    handles = {}
    for axis in axes.flat:
        for handle, label in zip(*axis.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.legend(handles.values(), handles.keys(), loc="upper center", ncol=min(len(handles), 5),
                  bbox_to_anchor=(0.5, 0.0), frameon=False)
    write_png(Path(out), figure, dpi=100, bbox_inches="tight")


def summary(runs: list[dict], names: list[str]) -> str:
    """Markdown: per run and panel, evaluations, best F1 (at which x) and last F1."""
    lines = ["| run | panel | evaluations | best dev F1 (at) | last dev F1 |", "|---|---|---|---|---|"]
    for run, name in zip(runs, names):
        for panel, (xs, ys) in run["series"].items():
            if ys:
                best = max(range(len(ys)), key=ys.__getitem__)
                lines.append(f"| {name} | {panel} | {len(ys)} | {ys[best]:.2f} ({xs[best]:g}) | {ys[-1]:.2f} |")
    return "\n".join(lines) + "\n"


def curves(run_dirs, out, label_by: list[str] | None = None, x: str = "step", title: str | None = None) -> str:
    """Read and check every folder, then write the PNG to ``out``; returns the summary table."""
    if not run_dirs:
        raise ZsnerError("no run folders given")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise ZsnerError("--out must name a .png file", out)
    if out.is_dir():
        raise ZsnerError("--out is a folder", out)
    runs = [load_curves(path, x) for path in run_dirs]
    names = labels(runs, label_by)
    draw(runs, names, out, x, title)
    return summary(runs, names)


def add_parser(sub):
    parser = sub.add_parser("curves", help="per-evaluation dev-F1 curves of several run folders in one PNG",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders holding loss.tsv and config.json")
    parser.add_argument("--out", required=True, metavar="FILE.png", help="the figure")
    parser.add_argument("--label-by", default="", metavar="FIELD[,FIELD]",
                        help="config fields that label the lines, e.g. freeze_layers, head, aux, seed, train.lr "
                             "(default: the fields that differ between the runs)")
    parser.add_argument("--x", choices=sorted(X_AXES), default="step", help="x axis: optimizer step (default) or loss.tsv's epoch column (transformer: "
                             "epochs done, fractional; classic: the epoch's index)")
    parser.add_argument("--title", default=None, help="figure title")
    parser.set_defaults(func=run_command)


def run_command(args) -> None:
    label_by = [field.strip() for field in args.label_by.split(",") if field.strip()]
    sys.stdout.write(curves(args.run_dirs, args.out, label_by or None, args.x, args.title))
