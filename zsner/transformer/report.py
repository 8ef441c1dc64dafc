"""Run-folder reports of the transformer backend: learning-curve PNGs and the Markdown results/speed tables."""
from __future__ import annotations

from ..atomic import write_png


def _column(rows, columns, name):
    position = columns.index(name)
    return [row[position] for row in rows]


def _numbers(steps, values):
    pairs = [(s, float(v)) for s, v in zip(steps, values) if v != "" and v is not None]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def _phase_lines(axis, rows, columns):
    phases, steps = _column(rows, columns, "phase"), _column(rows, columns, "step")
    for previous, current, step in zip(phases, phases[1:], steps[1:]):
        if current != previous:
            axis.axvline(step, color="grey", linestyle=":", linewidth=1)


def plot_curves(rows: list[list], columns: list[str], out_dir) -> None:
    """``loss.png`` (training losses per evaluation interval) and ``f1.png`` (dev F1) against optimizer steps."""
    if not rows:
        return
    auxiliary = any(value != "" for name in ("li", "cl", "pc") for value in _column(rows, columns, name))
    losses = [(name, name) for name in (("loss", "ner", "li", "cl", "pc") if auxiliary else ("loss",))]
    _plot(rows, columns, losses, "mean training loss", out_dir / "loss.png")
    _plot(rows, columns, [("src_dev_f1", "source dev"), ("tgt_dev_f1", "target dev")], "span F1 (%)",
          out_dir / "f1.png")


def _plot(rows: list[list], columns: list[str], series: list[tuple[str, str]], ylabel: str, path) -> None:
    """One PNG: each (column, label) of ``series`` against the optimizer step, phase boundaries marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # imported here: loading a checkpoint to tag text must not pay for it

    steps = _column(rows, columns, "step")
    figure, axis = plt.subplots(figsize=(6, 4))
    for name, label in series:
        x, y = _numbers(steps, _column(rows, columns, name))
        if y:
            axis.plot(x, y, marker=".", label=label)
    _phase_lines(axis, rows, columns)
    axis.set_xlabel("optimizer step")
    axis.set_ylabel(ylabel)
    axis.legend()
    axis.grid(alpha=0.3)
    write_png(path, figure, dpi=100, bbox_inches="tight")


def results_markdown(metrics: dict) -> str:
    """One results table (F1 per selection criterion and target) and one speed table."""
    lines = [f"# {metrics['mode']} {','.join(metrics['src'])} -> {','.join(metrics['tgt'])} "
             f"(transformer: {metrics['model_name']})", "",
             "| phase | selection | step | target | dev F1 | test F1 |", "|---|---|---|---|---|---|"]
    for phase, criteria in metrics["phases"].items():
        for criterion, chosen in criteria.items():
            for lang, test in chosen.get("test", {}).items():
                dev = chosen.get("dev", {}).get(lang, {}).get("micro", {}).get("f1", "")
                lines.append(f"| {phase} | {criterion} | {chosen['step']} | {lang} | {dev} | {test['micro']['f1']} |")
    speed = metrics["speed"]
    lines += ["", "| parameters (trainable / total) | train s | s per epoch | train sent/s | inference sent/s |",
              "|---|---|---|---|---|",
              f"| {metrics['parameters']:,} / {metrics['parameters_total']:,} | {speed['train_seconds']} | "
              f"{speed['seconds_per_epoch']} | {speed['train_sentences_per_second']} | "
              f"{speed['inference_sentences_per_second']} |", ""]
    return "\n".join(lines)
