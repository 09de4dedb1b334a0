"""``docs/results/README.md``: each of the paper's findings next to its result at CPU scale, computed from the
stored pages' JSON (``<name>.json``) and provenance (``<name>.run.json``); a page not written yet is listed as
such."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable, Optional

from ..evaluation.comparison import Point, compare
from ..io import PathLike, write_text_atomic
from .weight_sharing import kendall_tau

TAU_REPRODUCES = 0.7
"""Kendall's tau from which the inherited ranking counts as the from-scratch one (0.7: at most 15 % of the pairs
swapped)."""
MAPE_ACCURATE = 10.0
"""Test MAPE (%) up to which a latency predictor counts as accurate."""


def _main(rows: list[dict]) -> tuple[str, str]:
    points = {f: [Point(r["name"], r["latency_ms"], r["bleu"], r.get("bleu_std") or 0.0) for r in rows
                  if r["family"] == f] for f in ("hat", "baseline")}
    verdicts = compare(points["hat"], points["baseline"])
    beaten = sum(v.beaten for v in verdicts)
    beyond = sum(bool(v.beyond_spread) for v in verdicts)
    verdict = "yes" if beaten == len(verdicts) else "partly" if beaten else "no"
    return f"{beaten} of {len(verdicts)} baselines beaten ({beyond} beyond the seeds' spread)", verdict


def _inherited(rows: list[dict]) -> tuple[str, str]:
    tau = kendall_tau([r["inherited_bleu"] for r in rows], [r["scratch_bleu"] for r in rows])
    gaps = [r["scratch_bleu"] - r["inherited_bleu"] for r in rows]
    found = (f"Kendall's tau {'undefined' if tau is None else f'{tau:.2f}'} over {len(rows)} SubTransformers; "
             f"gap {min(gaps):+.2f} to {max(gaps):+.2f} BLEU")
    verdict = "undetermined" if tau is None else "no" if tau <= 0 else "yes" if tau >= TAU_REPRODUCES else "partly"
    return found, verdict


def _finetune(rows: list[dict]) -> tuple[str, str]:
    matched = [r["gap"] >= -(r["scratch_bleu_std"] ** 2 + r["finetune_bleu_std"] ** 2) ** 0.5 for r in rows]
    gaps = ", ".join(f"{r['gap']:+.2f}" for r in rows)
    found = f"fine-tuned - from scratch: {gaps} BLEU with a quarter of the updates"
    return found, "yes" if all(matched) else "partly" if any(matched) else "no"


def _search_vs_random(page: dict) -> tuple[str, str]:
    from .search_comparison import verdict

    result = verdict(page["curves"])
    found = ", ".join(f"{method} {result[method]['mean']:.4f} +- {result[method]['std']:.4f}"
                      for method in ("evolution", "random"))
    return (f"mean best validation loss after {result['evaluations']} evaluations (bits): {found}; winners trained: "
            + ", ".join(f"{method} {w['bleu']:.2f} BLEU" for method, w in page["winners"].items())), result["verdict"]


def _design_space(rows: list[dict]) -> tuple[str, str]:
    from .design_space import verdicts

    full = next(r for r in rows if r["variant"] == "full-space")
    found = "; ".join(f"full space vs {r['variant']}: {full['bleu'] - r['bleu']:+.2f} BLEU at "
                      f"{full['latency_ms'] / r['latency_ms']:.2f}x its latency" for r in rows if r is not full)
    results = verdicts(rows)
    beaten = sum(v.beaten for v in results)
    beyond = sum(bool(v.beyond_spread) for v in results)
    verdict = "yes" if beaten == len(results) else "partly" if beaten else "no"
    return f"{found} ({beaten} of {len(results)} smaller spaces beaten, {beyond} beyond the seeds' spread)", verdict


def _predictor(rows: list[dict]) -> tuple[str, str]:
    best = {}
    for r in rows:
        best[r["dataset"]] = min(best.get(r["dataset"], r), r, key=lambda row: row["rmse"])
    found = "; ".join(f"{name}: {r['model']} {r['rmse']:.1f} ms ({r['mape']:.1f} %)" for name, r in best.items())
    accurate = sum(r["mape"] <= MAPE_ACCURATE for r in best.values())
    return f"best test RMSE (MAPE) per dataset: {found}", "yes" if accurate == len(best) else "partly" if accurate else "no"


def _deployment(rows: list[dict]) -> tuple[str, str]:
    hat = [r for r in rows if r["family"] == "hat" and r["backend"] == "onnxruntime-int8"]
    ratios = ", ".join(f"{r['ratio_to_torch']:.2f}x" for r in hat)
    return f"int8 ONNX Runtime latency of the searched models: {ratios} of PyTorch's", "beyond the paper"


def _supernet_training(rows: list[dict]) -> tuple[str, str]:
    from .supernet_training import summary

    result = summary(rows)
    parts = []
    for name in ("uniform", "sandwich"):
        tau, gap = result[name]["kendall_tau"], result[name]["searched_gap_max"]
        parts.append(f"{name}: tau {'undefined' if tau is None else f'{tau:.2f}'}, searched models' largest gap "
                     f"{'-' if gap is None else f'{gap:+.2f}'} BLEU")
    return "; ".join(parts), "beyond the paper: goal " + ("met" if result["goal"]["met"] else "not met")


EXPERIMENTS: list[tuple[str, str, str, Optional[Callable[[list], tuple[str, str]]]]] = [
    ("multi30k_en_de", "main figures, Raspberry Pi table",
     "searched SubTransformers beat Transformers of uniform sizes: higher BLEU at equal latency, or equal BLEU "
     "faster (up to 3x on a Raspberry Pi)", _main),
    ("multi30k_inherited_vs_scratch", "inherited vs from-scratch table",
     "inherited weights rank SubTransformers as training from scratch does (a 0.9-2.0 BLEU gap)", _inherited),
    ("multi30k_finetune", "fine-tuning table",
     "a short fine-tune of the inherited weights matches training from scratch", _finetune),
    ("multi30k_search_vs_random", "evolutionary vs random search figure",
     "evolution finds lower validation loss than random search for the same evaluations", _search_vs_random),
    ("predictor_accuracy", "predicted vs measured latency figure", "the latency predictor is accurate", _predictor),
    ("multi30k_design_space", "design-space ablation",
     "arbitrary encoder-decoder attention and heterogeneous layers improve the searched models", _design_space),
    ("multi30k_deployment", "quantization table (and deployment, beyond the paper)",
     "K-means quantization (8 and 4 bits) makes the SubTransformer several times smaller with little BLEU loss; "
     "here also ONNX Runtime int8", _deployment),
    ("multi30k_supernet_training", "inherited vs from-scratch table (beyond the paper: sandwich rule, in-place "
     "distillation)", "inherited SubTransformers are 0.9-2.0 BLEU behind and must be retrained; here the goal is "
     "inherited within 0.5 BLEU of from scratch at the same SuperTransformer training time", _supernet_training),
]
"""Every page: its name, the paper's table or figure, what the paper found, and the summary of our JSON (None:
the experiment is not built yet)."""


def _summary(results_dir: Path, name: str, summarize: Optional[Callable]) -> Optional[tuple[str, str, dict]]:
    """A written page's (what we found, whether it reproduces, its provenance), or None when there is none."""
    page, run = results_dir / f"{name}.json", results_dir / f"{name}.run.json"
    if summarize is None or not page.is_file() or not run.is_file():
        return None
    return (*summarize(json.loads(page.read_text())), json.loads(run.read_text()))


def _compute(info: dict) -> str:
    hours, minutes = divmod(round(info["wall_s"] / 60), 60)
    return f"{hours} h {minutes:02d} min ({info['finished'][:10]})"


def index_markdown(results_dir: PathLike) -> str:
    """The index page of ``results_dir``."""
    results_dir = Path(results_dir)
    lines = ["# The paper's findings at CPU scale", "",
             "Written by `hat-results` (and by every experiment run) from the pages' stored JSON; each page states its "
             "command, machine, commits, date, seeds and compute time, and discusses what it does not show. "
             f"Reproduces: the rule of the page (inherited ranking: Kendall's tau >= {TAU_REPRODUCES}; fine-tuning: "
             "no model below from scratch by more than the seeds' spread).", "",
             "| paper | the paper found | page | what we found here | reproduces? | compute | seeds |",
             "|---|---|---|---|---|---|---|"]
    for name, where, paper, summarize in EXPERIMENTS:
        summary = _summary(results_dir, name, summarize)
        if summary is None:
            status = ("not built yet" if summarize is None else "not run yet"
                      if not (results_dir / f"{name}.json").is_file() else
                      f"[a page]({name}.md) from an earlier version, without the stored provenance: to be rerun")
            lines.append(f"| {where} | {paper} | `{name}` | {status} | - | - | - |")
            continue
        found, verdict, info = summary
        seeds = ", ".join(map(str, info["seeds"])) or "-"
        lines.append(f"| {where} | {paper} | [{name}]({name}.md) | {found} | {verdict} | {_compute(info)} | {seeds} |")
    return "\n".join(lines) + "\n"


def write_index(results_dir: PathLike) -> None:
    """``<results_dir>/README.md`` (:func:`index_markdown`)."""
    Path(results_dir).mkdir(parents=True, exist_ok=True)
    write_text_atomic(Path(results_dir) / "README.md", index_markdown(results_dir))


RECORDED_BEGIN = "<!-- recorded results: written by hat-results from docs/results; edits here are overwritten -->"
RECORDED_END = "<!-- end of recorded results -->"
"""The markers of the block of a README (the project's) that :func:`write_recorded_block` writes."""


def recorded_lines(results_dir: PathLike, link_prefix: str) -> list[str]:
    """One line per written page (what we found, whether it reproduces, its compute time and date), then the pages
    not written yet; links are ``<link_prefix><name>.md``."""
    results_dir, lines, missing = Path(results_dir), [], []
    for name, where, _, summarize in EXPERIMENTS:
        summary = _summary(results_dir, name, summarize)
        if summary is None:
            missing.append(f"`{name}`")
            continue
        found, verdict, info = summary
        lines.append(f"- [{name}]({link_prefix}{name}.md) ({where}): {found}. Reproduces: **{verdict}**; "
                     f"{_compute(info)}.")
    return lines + ([f"- not recorded yet: {', '.join(missing)}."] if missing else [])


def write_recorded_block(readme: PathLike, results_dir: PathLike) -> bool:
    """Rewrite the block between :data:`RECORDED_BEGIN` and :data:`RECORDED_END` of ``readme`` with
    :func:`recorded_lines` (links relative to the README); False, and nothing written, when it has no such block."""
    readme = Path(readme)
    text = readme.read_text() if readme.is_file() else ""
    begin, end = text.find(RECORDED_BEGIN), text.find(RECORDED_END)
    if begin < 0 or end < begin:
        return False
    prefix = Path(os.path.relpath(Path(results_dir).resolve(), readme.resolve().parent)).as_posix() + "/"
    block = "\n".join([RECORDED_BEGIN, *recorded_lines(results_dir, prefix), ""])
    write_text_atomic(readme, text[:begin] + block + text[end:])
    return True
