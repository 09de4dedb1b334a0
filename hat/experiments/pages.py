"""What every results page of ``docs/results/`` shares: the provenance header, the hand-written discussion it
includes, and the PNG figure's writing."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

from ..io import PathLike, atomic_write, write_text_atomic
from ..plotting import pyplot

DISCUSSION_DIR = "discussion"
"""Hand-written discussions: ``<results dir>/discussion/<page name>.md``, included at the end of the page (the
figures stay on the generated part; the discussion says what they do and do not show)."""


def header(results_dir: PathLike, name: str, title: str, context: dict, seeds: Sequence[int] = ()) -> list[str]:
    """The page's title and where its figures come from: the command, the machine, the commit(s) that ran the
    stages and the one that wrote the page, the date the last stage finished, the stages' summed compute time and
    the training seeds. The same is written to ``<results_dir>/<name>.run.json`` for the index page
    (:mod:`hat.experiments.results_index`). ``context``: ``command``, ``threads``, ``commit`` and ``provenance``
    (:meth:`hat.experiments.stages.Pipeline.provenance`: the machines are the stored ones, not the one writing
    the page)."""
    run = context["provenance"]
    info = {"title": title, "command": context["command"], "latency_threads": context["threads"], **run,
            "seeds": list(seeds)}
    write_text_atomic(Path(results_dir) / f"{name}.run.json", json.dumps(info, indent=2) + "\n")
    hours, minutes = divmod(round(run["wall_s"] / 60), 60)
    return [f"# {title}", "",
            f"- command: `{context['command']}`",
            f"- machine(s) that ran the stages: {machines(run)}; {context['threads']} thread(s) for latency",
            f"- stages run at commit(s) {', '.join(run['commits'])}; page written at commit {context['commit']}",
            f"- last stage finished {run['finished']}; compute time of its stages (those shared with other pages "
            f"included) {hours} h {minutes:02d} min",
            *([f"- training seeds: {', '.join(map(str, seeds))}"] if seeds else []), ""]


def machines(provenance: dict) -> str:
    """The CPUs that ran a page's stages (:meth:`hat.experiments.stages.Pipeline.provenance`), as the page names
    them: those stored without theirs are counted."""
    unrecorded = provenance["machines_unrecorded"]
    names = ", ".join(provenance["machines"]) or "not recorded"
    return names + (f" ({unrecorded} stage(s) stored without their machine)" if unrecorded and provenance["machines"]
                    else "")


def discussion(results_dir: PathLike, name: str) -> list[str]:
    """The page's hand-written discussion (:data:`DISCUSSION_DIR`), or a line saying there is none yet."""
    path = Path(results_dir) / DISCUSSION_DIR / f"{name}.md"
    if not path.is_file():
        return ["## Discussion", "", f"(none written yet: `{DISCUSSION_DIR}/{name}.md` next to this page)", ""]
    return [path.read_text().rstrip(), ""]


def save_png(draw: Callable, path: PathLike, size: tuple[float, float] = (6.5, 4.2), panels: int = 1) -> None:
    """``draw(axes)`` on a new figure (``panels`` side by side: ``axes`` is then their list), written to ``path``
    as PNG (atomically)."""
    plt = pyplot()
    figure, axes = plt.subplots(1, panels, figsize=size, dpi=120, squeeze=False)
    draw(list(axes[0]) if panels > 1 else axes[0][0])
    figure.tight_layout()
    atomic_write(path, lambda stream: figure.savefig(stream, format="png"), binary=True)
    plt.close(figure)
