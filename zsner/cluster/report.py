"""``summary.md`` of a clustering run: the groups of both encoders, each language's shares and LID accuracy, and
the stability across settings."""
from __future__ import annotations


def _shares(shares: list[float]) -> str:
    return " / ".join(f"{100 * share:.0f}" for share in shares)


def summary_markdown(config, main: dict, report: dict) -> str:
    """Markdown for the main setting (the first seed and cap; ``main``: its record, ``pipeline.setting_record``)
    and the ARI between all settings."""
    first = next(iter(report["settings"].values()))
    langs = main["langs"]
    lid, plain = main["lid"], main["plain"]
    lines = [f"# Language clusters (k = {config.k}), seed {first['seed']}, cap {first['cap']} LID training "
             f"sentences per language, {config.held_out} held-out dev sentences per language clustered",
             "", f"Model: `{config.model}`; LID fine-tuning: {config.epochs} epochs, batch {config.batch_size}, "
             f"lr {config.lr}; held-out LID accuracy {main['accuracy']['overall']}.", ""]
    for name, groups in (("LID-fine-tuned encoder", lid), ("plain encoder (baseline)", plain)):
        shown = ", ".join("{" + " ".join(group) + "}" for group in groups["groups"] if group)
        lines.append(f"- {name}: {shown}")
    lines += ["", "| lang | LID acc. | cluster (LID) | shares % per cluster (LID) | cluster (plain) | "
              "shares % per cluster (plain) |", "|---|---|---|---|---|---|"]
    for lang in langs:
        lines.append(f"| {lang} | {main['accuracy']['per_language'][lang]:.3f} | {lid['majority'][lang]} | "
                     f"{_shares(lid['shares'][lang])} | {plain['majority'][lang]} | {_shares(plain['shares'][lang])} |")
    if report["pairs"]:
        lines += ["", f"## Stability: adjusted Rand index between settings (mean: LID {report['mean_ari']['lid']}, "
                  f"plain {report['mean_ari']['plain']})", "", "| setting | setting | ARI (LID) | ARI (plain) |",
                  "|---|---|---|---|"]
        lines += [f"| {pair['a']} | {pair['b']} | {pair['lid']} | {pair['plain']} |" for pair in report["pairs"]]
    return "\n".join(lines) + "\n"
