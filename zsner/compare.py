"""``zsner compare``: classic and transformer run folders side by side in one Markdown table.

    zsner compare runs/en-es-augmented runs/en-es-transformer-zero-shot [--out runs/en-es-compare.md] [--json]

A classic folder is a ``zsner transfer`` run (``results.json`` with ``summaries``: one row per variant, mean ± std
over its seeds); a transformer folder is a ``zsner transformer`` run (``metrics.json`` with ``criteria`` and
``speed``: one row per target language; folders of the same model, mode, pair and configuration that differ only in their
seed are pooled into one row, mean ± std). Columns: target-test F1 of the model chosen by each selection criterion
(src-dev, tgt-dev, tgt-test; "–" where a backend has no such criterion), trainable parameters, mean training
seconds and inference speed (target test sentences per second; "–" where a run did not record it). Rows are
grouped by language pair, classic rows first.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

from .errors import ZsnerError
from .jsonfile import read_json
from .report import mean_std, mean_std_text

CRITERIA = ("src-dev", "tgt-dev", "tgt-test")
DASH = "–"
# config.json fields of a transformer run that do not change what is measured (pooling ignores them)
_INCIDENTAL = {"seed", "init", "data_dir", "threads", "device", "amp", "progress", "save_checkpoints"}
E5_NOTE = ("multilingual E5 is a contrastively trained sentence-embedding encoder, not mBERT or XLM-R: its rows "
           "are not comparable with the papers' mBERT/XLM-R figures.")


def _stats(values: list) -> dict | None:
    """Mean / sample std (0 for one value) / values of the present numbers; ``None`` if there are none."""
    numbers = [float(v) for v in values if v is not None]
    return mean_std(numbers) if numbers else None


def _mean(values: list) -> float | None:
    numbers = [float(v) for v in values if v is not None]
    return round(statistics.mean(numbers), 2) if len(numbers) == len(values) and numbers else None


def _classic_rows(path: Path, results: dict) -> list[dict]:
    config = results.get("config") or {}
    runs = results.get("runs") or {}
    src, tgt = config.get("src"), config.get("tgt")
    if not src or not tgt or not isinstance(results["summaries"], dict):
        raise ZsnerError("results.json lacks config.src / config.tgt or its summaries", path / "results.json")
    rows = []
    for mode, summary in results["summaries"].items():
        seeds = list(summary.get("seeds", []))
        f1 = {}
        for criterion in CRITERIA:
            entry = summary.get(criterion)
            f1[criterion] = ({"mean": entry["mean"], "std": entry.get("std", 0.0), "values": entry.get("values", [])}
                             if isinstance(entry, dict) and entry.get("mean") is not None else None)
        speed = summary.get("inference_sentences_per_second")
        if speed is None:  # per seed, when only the seeds' metrics recorded it
            speed = _mean([run.get("inference_sentences_per_second") for run in runs.get(mode, [])])
        rows.append({"backend": "classic", "label": f"BiLSTM-CRF {mode}", "model": "BiLSTM-CRF", "mode": mode,
                     "src": src, "tgt": tgt, "seeds": seeds, "f1": f1, "parameters": summary.get("parameters"),
                     "parameters_total": None, "train_seconds": summary.get("train_seconds"),
                     "inference_sentences_per_second": speed, "run_dirs": [str(path)], "_key": None})
    return rows


def _join(value) -> str:
    return ",".join(value) if isinstance(value, list) else str(value or "")


def _transformer_label(metrics: dict) -> str:
    name = metrics.get("model_name") or Path(str(metrics.get("model", "transformer"))).name
    details = [str(metrics.get("mode", "zero-shot"))]
    if metrics.get("head", "softmax") != "softmax":
        details.append(f"{metrics['head']} head")
    if metrics.get("freeze_layers", -1) != -1:
        details.append(f"freeze {metrics['freeze_layers']}")
    if metrics.get("aux"):
        details.append(f"aux {_join(metrics['aux'])}")
    if metrics.get("mode") == "augmented" and metrics.get("pseudo_loss") not in (None, "ce"):
        details.append(str(metrics["pseudo_loss"]))
    return f"{name} ({', '.join(details)})"


def _target_f1(metrics: dict, criterion: str, lang: str, first: str):
    """Target-test F1 of ``lang`` under ``criterion``: ``selection`` holds every target of a multi-target run,
    ``criteria`` the first target only."""
    chosen = (metrics.get("selection") or {}).get(criterion)
    if isinstance(chosen, dict) and isinstance(chosen.get("test"), dict) and lang in chosen["test"]:
        return chosen["test"][lang]["micro"]["f1"]
    entry = metrics["criteria"].get(criterion)
    return entry.get("tgt_test_f1") if isinstance(entry, dict) and lang == first else None


def _transformer_rows(path: Path, metrics: dict) -> list[dict]:
    """One row per target language (a run evaluated on es,nl,de gives three rows)."""
    criteria = metrics["criteria"]
    if not isinstance(criteria, dict):
        raise ZsnerError("metrics.json: criteria is not an object", path / "metrics.json")
    src = _join(metrics.get("src"))
    targets = metrics.get("tgt") if isinstance(metrics.get("tgt"), list) else _join(metrics.get("tgt")).split(",")
    targets = [lang for lang in targets if lang]
    if not src or not targets:
        raise ZsnerError("metrics.json lacks src / tgt", path / "metrics.json")
    config = read_json(path / "config.json", "run file") if (path / "config.json").is_file() else {}
    key = json.dumps({section: {k: v for k, v in values.items() if k not in _INCIDENTAL}
                      for section, values in config.items() if isinstance(values, dict)}, sort_keys=True)
    speed = metrics.get("speed") or {}
    seed = metrics.get("seed")
    return [{"backend": "transformer", "label": _transformer_label(metrics),
             "model": metrics.get("model_name") or Path(str(metrics.get("model", ""))).name,
             "mode": metrics.get("mode"), "src": src, "tgt": lang, "seeds": [seed] if seed is not None else [],
             "f1": {criterion: _stats([_target_f1(metrics, criterion, lang, targets[0])])
                    if isinstance(criteria.get(criterion), dict) else None for criterion in CRITERIA},
             "parameters": metrics.get("parameters"), "parameters_total": metrics.get("parameters_total"),
             "train_seconds": metrics.get("train_seconds", speed.get("train_seconds")),
             "inference_sentences_per_second": speed.get("inference_sentences_per_second"),
             "run_dirs": [str(path)], "_key": key} for lang in targets]


def load_run(path) -> list[dict]:
    """The rows of one run folder (classic: one per variant; transformer: one per target language)."""
    path = Path(path)
    if not path.is_dir():
        raise ZsnerError("no such run folder", path)
    try:
        if (path / "results.json").is_file():
            results = read_json(path / "results.json", "run file")
            if "summaries" in results:
                return _classic_rows(path, results)
        if (path / "metrics.json").is_file():
            metrics = read_json(path / "metrics.json", "run file")
            if "criteria" in metrics and ("speed" in metrics or metrics.get("backend") == "transformer"):
                return _transformer_rows(path, metrics)
    except (KeyError, TypeError, AttributeError, ValueError) as err:
        raise ZsnerError(f"malformed run files ({err.__class__.__name__}: {err})", path) from None
    raise ZsnerError("not a zsner run folder (expected results.json with summaries from `zsner transfer`, or "
                     "metrics.json with criteria and speed from `zsner transformer`)", path)


def _pool(rows: list[dict]) -> list[dict]:
    """Merge transformer rows that differ only in their seed (mean ± std over seeds)."""
    pooled: list[dict] = []
    groups: list[list[dict]] = []
    for row in rows:
        group = next((g for g in groups if row["_key"] is not None and g[0]["_key"] == row["_key"]
                      and (g[0]["label"], g[0]["src"], g[0]["tgt"]) == (row["label"], row["src"], row["tgt"])
                      and row["seeds"] and not set(row["seeds"]) & {s for r in g for s in r["seeds"]}), None)
        if group is None:
            groups.append([row])
        else:
            group.append(row)
    for group in groups:
        if len(group) == 1:
            pooled.append(group[0])
            continue
        first = dict(group[0])
        first["seeds"] = [s for r in group for s in r["seeds"]]
        first["f1"] = {c: _stats([r["f1"][c]["mean"] if r["f1"][c] else None for r in group])
                       if all(r["f1"][c] for r in group) else None for c in CRITERIA}
        first["train_seconds"] = _mean([r["train_seconds"] for r in group])
        first["inference_sentences_per_second"] = _mean([r["inference_sentences_per_second"] for r in group])
        first["run_dirs"] = [d for r in group for d in r["run_dirs"]]
        pooled.append(first)
    return pooled


def compare_rows(run_dirs) -> list[dict]:
    """Every folder's rows, transformer seeds pooled, grouped by language pair (first appearance), classic first."""
    if not run_dirs:
        raise ZsnerError("no run folders given")
    rows = _pool([row for path in run_dirs for row in load_run(path)])
    pairs = list(dict.fromkeys((row["src"], row["tgt"]) for row in rows))
    ordered = sorted(rows, key=lambda row: (pairs.index((row["src"], row["tgt"])), row["backend"] != "classic"))
    return [{k: v for k, v in row.items() if k != "_key"} for row in ordered]


def _f1_cell(stats: dict | None, seeds: int) -> str:
    return mean_std_text(stats, seeds) if stats else DASH


def _number(value, digits: int) -> str:
    return DASH if value is None else f"{float(value):.{digits}f}"


def _parameters(row: dict) -> str:
    if row["parameters"] is None:
        return DASH
    cell = f"{int(row['parameters']):,}"
    total = row.get("parameters_total")
    return cell + (f" (of {int(total):,})" if total and total != row["parameters"] else "")


def markdown(rows: list[dict]) -> str:
    lines = ["| backend | model | src→tgt | seeds | test F1 (src-dev selection) | test F1 (tgt-dev selection) | "
             "test F1 (tgt-test, oracle) | trainable params | train s | inference sent/s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    e5 = False
    for row in rows:
        label = row["label"]
        if row["backend"] == "transformer" and re.search(r"(^|[^a-z0-9])e5([^a-z0-9]|$)", row["model"].lower()):
            label, e5 = label + " †", True
        seeds = len(row["seeds"])
        cells = [row["backend"], label, f"{row['src']}→{row['tgt']}", str(seeds or DASH),
                 *(_f1_cell(row["f1"][c], seeds) for c in CRITERIA), _parameters(row),
                 _number(row["train_seconds"], 1), _number(row["inference_sentences_per_second"], 1)]
        lines.append("| " + " | ".join(cells) + " |")
    notes = ["", "F1: span micro-F1 (%) on the target test set of the checkpoint each criterion selects; mean ± std "
             "(sample) over seeds. train s: mean training seconds per seed (classic augmented: the augmented phase "
             "only, its base variant's row holds the base training). inference: target test sentences per second."]
    if e5:
        notes.append(f"\n† {E5_NOTE}")
    return "\n".join(lines + notes) + "\n"


def compare_runs(run_dirs, json_path=None) -> str:
    """The Markdown comparison table of ``run_dirs``; also writes the rows as JSON to ``json_path`` if given."""
    rows = compare_rows(run_dirs)
    if json_path is not None:
        from .atomic import write_json

        write_json(Path(json_path), _json(rows))
    return markdown(rows)


def _json(rows: list[dict]) -> dict:
    return {"criteria": list(CRITERIA), "rows": rows}


def add_parser(sub):
    parser = sub.add_parser("compare", help="classic and transformer run folders side by side in one Markdown table",
                            description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="`zsner transfer` or `zsner transformer` run folders")
    parser.add_argument("--out", default=None, metavar="FILE.md",
                        help="also write the table there (with --json, the rows beside it as FILE.json)")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON object instead of the table")
    parser.set_defaults(func=run_command)


def run_command(args) -> None:
    from .atomic import write_json, write_text

    rows = compare_rows(args.run_dirs)
    table = markdown(rows)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text(out, table)
        if args.json:
            write_json(out.with_suffix(".json"), _json(rows))
    sys.stdout.write(json.dumps(_json(rows), ensure_ascii=False) + "\n" if args.json else table)
