"""The search plot: validation loss vs predicted latency of every evaluated candidate."""
from __future__ import annotations

import logging

from collections.abc import Sequence
from pathlib import Path

from ..io import atomic_write
from .evolution import Evaluation, SearchResult


def plot_search(history: Sequence[Evaluation], results: Sequence[SearchResult], path: str | Path,
                title: str = "HAT evolutionary search") -> None:
    """Scatter of (predicted latency, loss) of ``history``, a dashed line per latency constraint and a
    star on the SubTransformer chosen for it; written atomically as PNG."""
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # fairseq's CLIs log everything at DEBUG
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=120)
    axes.scatter([e.latency_ms for e in history], [e.loss for e in history], s=8, alpha=0.45, color="tab:blue",
                 label=f"evaluated candidates ({len(history)})")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"][1:]
    for i, result in enumerate(results):
        color = colors[i % len(colors)]
        axes.axvline(result.constraints.latency_ms, color=color, linestyle="--", linewidth=1)
        axes.scatter([result.latency_ms], [result.loss], marker="*", s=220, color=color, edgecolors="black",
                     zorder=3, label=f"chosen for {result.constraints.name}: loss {result.loss:.3f}, "
                                     f"{result.latency_ms:.1f} ms")
    axes.set_xlabel("predicted latency (ms)")
    axes.set_ylabel("validation loss (bits/token, inherited weights)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    atomic_write(path, lambda stream: figure.savefig(stream, format="png"), binary=True)
    plt.close(figure)
