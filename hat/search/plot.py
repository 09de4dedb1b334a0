"""The search plot: validation loss vs predicted latency of every evaluated candidate."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..io import atomic_write
from .evolution import Evaluation, SearchResult
from .verify import Verification


def plot_search(history: Sequence[Evaluation], results: Sequence[SearchResult], path: str | Path,
                title: str = "HAT evolutionary search", verified: Sequence[Verification] = ()) -> None:
    """Scatter of (predicted latency, loss) of ``history``, a dashed line per latency constraint and a
    star on the SubTransformer chosen for it; candidates verified on the device are drawn at their measured
    latency (crosses) with a line from their prediction. Written atomically as PNG."""
    from ..plotting import pyplot

    plt = pyplot()
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
    for i, verification in enumerate(verified):
        for j, candidate in enumerate(verification.candidates):
            axes.plot([candidate.predicted_latency_ms, candidate.measured_latency_ms], [candidate.loss] * 2,
                      color="tab:gray", linewidth=0.8, zorder=2)
            axes.scatter([candidate.measured_latency_ms], [candidate.loss], marker="x", s=40, zorder=3,
                         color="tab:green" if candidate.meets else "tab:red",
                         label=None if i or j else "verified: measured latency (green: meets its constraint)")
    axes.set_xlabel("predicted latency (ms); crosses: measured")
    axes.set_ylabel("validation loss (bits/token, inherited weights)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="upper right")
    figure.tight_layout()
    atomic_write(path, lambda stream: figure.savefig(stream, format="png"), binary=True)
    plt.close(figure)
