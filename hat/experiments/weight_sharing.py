"""Two of the paper's findings about the SuperTransformer's shared weights, on the Multi30k reproduction's models.

- ``multi30k_inherited_vs_scratch``: SubTransformers evaluated with the weights they inherit from the
  SuperTransformer (no retraining) rank as they rank when trained from scratch (the paper reports a 0.9-2.0 BLEU
  gap). Models: the searched SubTransformers, the space's largest and smallest, and the baselines that are
  SubTransformers of the space (same dimensions and qkv dim as the space's).
- ``multi30k_finetune``: a short fine-tune of the inherited weights (a quarter of the from-scratch budget) matches
  training from scratch.

The stages are :func:`hat.experiments.multi30k._inherited_vs_scratch` and ``_finetune``'s; this module holds
what they compute: the models, the inherited tests, the fine-tunes and the rows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from ..config_args import read_config_file
from ..errors import ConfigError
from ..io import PathLike
from ..search_space import SearchSpace, read_subtransformer_yaml, write_subtransformer_yaml
from . import steps
from .seeds import mean_std, seed_name
from .stages import Pipeline

CORNERS = ("largest", "smallest")
"""The space's representative SubTransformers (the original's ``largest_arbitrary1`` / ``smallest_arbitrary1``)."""
FINETUNE_SHARE = 4
"""Fine-tuning budget: the from-scratch budget divided by this (the paper's short fine-tune)."""


def search_space(data: PathLike, space: PathLike) -> SearchSpace:
    """The search space of the SuperTransformer YAML ``space``."""
    from ..training import parse_train_args

    return SearchSpace.from_args(parse_train_args([str(data), f"--configs={space}"]))


def corner_models(space: SearchSpace, common: str, folder: Path) -> dict[str, dict]:
    """The space's largest and smallest SubTransformers as models to train (``{"family": "corner", "yml",
    "common"}``), their YAML written into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    models = {}
    for name in CORNERS:
        yml = folder / f"{name}.yml"
        write_subtransformer_yaml(getattr(space, name)(), yml)
        models[name] = {"family": "corner", "yml": str(yml), "common": common}
    return models


def in_space(model: Mapping[str, str], space: SearchSpace) -> bool:
    """Whether a trained model is a SubTransformer of ``space``: its config is within the choices and it was built
    with the space's qkv dim, so the SuperTransformer's weights can stand in for its own."""
    try:
        space.validate(read_subtransformer_yaml(model["yml"]))
    except ConfigError:
        return False
    common = read_config_file(model["common"])
    return int(common.get("qkv-dim") or common["encoder-embed-dim"]) == space.qkv_dim


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> Optional[float]:
    """Kendall's tau-b of two rankings (ties counted as neither concordant nor discordant, and corrected for);
    None when one ranking ties every pair (fewer than two distinct values: no ranking to compare)."""
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = ((concordant + discordant + ties_a) * (concordant + discordant + ties_b)) ** 0.5
    if denominator == 0:
        return None
    return (concordant - discordant) / denominator


def inherited_bleu(pipeline: Pipeline, data: Path, prefix: str, name: str, model: Mapping[str, str],
                   supernet: Callable[[], PathLike]) -> float:
    """Test BLEU of SubTransformer ``name`` with the weights it inherits from the SuperTransformer checkpoint
    ``supernet()`` (asked for only when stage ``<prefix>_<name>`` runs)."""
    return pipeline.stage(f"{prefix}_{name}", lambda: steps.test_subtransformer(
        data, supernet(), model["yml"], model["common"], profile=False))["bleu"]


def inherited_rows(pipeline: Pipeline, data: Path, models: Mapping[str, dict], supernet: Callable[[], PathLike],
                   latency: Mapping[str, dict]) -> list[dict]:
    """Per model (trained and tested over seeds): BLEU with the SuperTransformer's weights (stage
    ``inherited_<name>``), BLEU from scratch (mean and std over seeds), the gap, and the measured latency."""
    rows = []
    for name, model in models.items():
        inherited = inherited_bleu(pipeline, data, "inherited", name, model, supernet)
        rows.append({"name": name, "family": model["family"], "inherited_bleu": inherited,
                     "scratch_bleu": model["bleu"], "scratch_bleu_std": model["bleu_std"], "seeds": model["seeds"],
                     "gap": model["bleu"] - inherited, "latency_ms": latency[name]["latency_ms"],
                     "latency_std_ms": latency[name]["latency_std_ms"], "params": model["params"]})
    return rows


def finetune_rows(pipeline: Pipeline, data: Path, models: Mapping[str, dict], supernet: Callable[[], PathLike],
                  updates: int, seeds: Sequence[int]) -> list[dict]:
    """Per model (trained from scratch for ``updates`` updates, tested over ``seeds``): its inherited weights
    fine-tuned for ``updates // FINETUNE_SHARE`` updates once per seed (stages ``finetune_<name>_seed<s>``), tested,
    against from scratch: BLEU mean / std and wall time of each."""
    rows = []
    for name, model in models.items():
        bleu, walls = [], []
        for seed in seeds:
            save_dir = pipeline.workdir / "models" / name / f"finetune_seed{seed}"
            stage, finetune = f"finetune_{seed_name(name, seed)}", _finetuning(data, model, supernet, save_dir,
                                                                               updates // FINETUNE_SHARE, seed)
            walls.append(steps.training_seconds(pipeline.stage(stage, finetune)))
            bleu.append(pipeline.stage(f"test_{stage}", lambda model=model, save_dir=save_dir, stage=stage,
                                       finetune=finetune: steps.test_subtransformer(
                data, pipeline.output(stage, save_dir / "checkpoint_best.pt", finetune), model["yml"], model["common"],
                profile=False))["bleu"])
        (finetune, finetune_std), (finetune_wall, _) = mean_std(bleu), mean_std(walls)
        rows.append({"name": name, "finetune_bleu": finetune, "finetune_bleu_std": finetune_std,
                     "finetune_updates": updates // FINETUNE_SHARE, "finetune_wall_s": finetune_wall,
                     "scratch_bleu": model["bleu"], "scratch_bleu_std": model["bleu_std"], "scratch_updates": updates,
                     "scratch_wall_s": model["train_wall_s"], "seeds": list(seeds),
                     "gap": finetune - model["bleu"]})
    return rows


def _finetuning(data: Path, model: Mapping[str, str], supernet: Callable[[], PathLike], save_dir: Path, updates: int,
                seed: int) -> Callable[[], dict]:
    """The fine-tuning of ``model``'s inherited weights (the work of its stage)."""
    return lambda: steps.finetune_subtransformer(data, model["yml"], model["common"], supernet(), save_dir, updates,
                                                 ["--seed", seed, "--no-progress-bar", "--log-format", "simple"])
