"""The clean stage's figure for ``snakemake --report``: removals by reason per dataset, and the duplicate
clusters' sizes."""

from __future__ import annotations

from pathlib import Path

from ernie_pipeline.io.atomic import atomic_path


def plot_removals(stats: dict, out_path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reasons = stats["reasons"]
    figure, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    width = 0.8 / max(len(stats["datasets"]), 1)
    for k, (name, dataset) in enumerate(stats["datasets"].items()):
        totals = dataset["totals"]
        for axis, unit in zip(axes[:2], ("documents", "chars")):
            shares = [100 * totals["by_reason"][r][unit] / max(totals[unit], 1) for r in reasons]
            bars = axis.bar([i + k * width for i in range(len(reasons))], shares, width, label=name)
            axis.bar_label(bars, labels=[f"{totals['by_reason'][r][unit]:,}" if totals["by_reason"][r][unit] else ""
                                         for r in reasons], fontsize=7, rotation=90, padding=2)
    for axis, unit in zip(axes[:2], ("documents", "characters")):
        axis.set_xticks([i + 0.4 - width / 2 for i in range(len(reasons))], reasons, rotation=45, ha="right")
        axis.set_ylabel(f"% of the {unit} removed")
        axis.set_title(f"Removed {unit}, by reason")
        axis.legend(fontsize=8)
    sizes = (stats.get("duplicates") or {}).get("cluster_sizes", {})
    if sizes:
        axes[2].loglog([int(s) for s in sizes], list(sizes.values()), "o")
    axes[2].set_xlabel("documents in the cluster")
    axes[2].set_ylabel("clusters")
    axes[2].set_title("Duplicate clusters" if sizes else "Duplicate clusters (none)")
    figure.tight_layout()
    with atomic_path(out_path) as tmp:
        # PNG metadata carries the matplotlib version and no date: the same statistics, the same bytes
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)


def summary_lines(stats: dict) -> list[str]:
    """The totals of a group's statistics as text: per dataset, documents removed by reason (and characters),
    the duplicate rate, and the benchmark sources contaminated documents overlapped."""
    lines = []
    for name, dataset in stats["datasets"].items():
        totals = dataset["totals"]
        documents = max(totals["documents"], 1)
        copies = totals["by_reason"]["exact"]["documents"] + totals["by_reason"]["near"]["documents"]
        lines.append(f"{name}: {totals['removed_documents']:,} of {totals['documents']:,} documents removed "
                     f"({100 * totals['removed_documents'] / documents:.2f} %; "
                     f"{100 * totals['removed_chars'] / max(totals['chars'], 1):.2f} % of the characters); "
                     f"duplicate rate {100 * copies / documents:.2f} %")
        reasons = [f"{reason} {counts['documents']:,}" for reason, counts in totals["by_reason"].items()
                   if counts["documents"]]
        lines.append(f"  by reason: {', '.join(reasons) or 'none'}")
        overlaps = {source: n for source, n in dataset["contamination_by_source"].items() if n}
        if dataset["contamination_by_source"]:
            lines.append(f"  benchmark overlap (documents): {', '.join(f'{s} {n}' for s, n in overlaps.items()) or 'none'}")
    return lines
