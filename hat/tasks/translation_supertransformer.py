"""fairseq task ``translation_supertransformer``: HAT's training through fairseq's extension points.

* SuperTransformer training: before every optimizer update, the SubTransformer sampled from the
  search space with seed = the number of updates done (as the original's ``train.py`` calls
  ``sample_configs`` of its ``fairseq/utils.py``) is set on the model. All micro-batches of an update,
  and every distributed worker, use the same one; a resumed run continues the same sequence. A local
  RNG is used, so fairseq's and the user's RNGs are untouched.
* Sandwich updates (``--sandwich-random N``, N > 0): every micro-batch trains the largest, the smallest and N
  sampled SubTransformers (seeds ``N * update + i``: a pure function of the update number), their gradients
  accumulated before fairseq's one optimizer step. With ``--inplace-distill W`` the sampled ones (the smallest
  included) learn ``(1 - W) * label loss + W * KL(largest's detached distribution || theirs)``.
* SubTransformer training (``--train-subtransformer``): the ``*-subtransformer`` config at every update.
* Validation: the largest and the smallest SubTransformer of the space (arbitrary attention 1, as the
  original), logged as ``largest_loss`` / ``smallest_loss`` (and ``*_nll_loss``). The ``loss`` that
  fairseq uses for ``checkpoint_best.pt`` and the LR scheduler is the smallest's, as the original.
"""
import contextlib
import functools
import math
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import torch
from fairseq import utils
from fairseq.data import data_utils
from fairseq.logging import metrics
from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from ..errors import DataError
from ..models.transformer_super import TransformerSuperModel
from ..search_space import (ConfigError, SearchSpace, check_fits, check_fits_model, check_trained_space,
                            config_from_args, read_subtransformer_yaml)
from .inplace_distillation import InplaceDistillation

REPRESENTATIVES = ("largest", "smallest")


@dataclass
class TranslationSuperTransformerConfig(TranslationConfig):
    train_subtransformer: bool = field(
        default=False, metadata={"help": "train the SubTransformer of the *-subtransformer flags (not the supernet)"})
    log_sampled_configs: bool = field(
        default=False, metadata={"help": "print the SubTransformer of every update (on every distributed rank)"})
    subtransformer_config: Optional[str] = field(
        default=None, metadata={"help": "SubTransformer YAML that generation runs (default: the checkpoint's own "
                                        "*-subtransformer config)"})
    allow_off_space: bool = field(
        default=False, metadata={"help": "run a SubTransformer config outside the search space (generation with a "
                                         "SuperTransformer checkpoint, --profile-flops with *-choice keys): it is then "
                                         "only checked to fit the SuperTransformer's dimensions"})
    sandwich_random: int = field(
        default=0, metadata={"help": "sandwich rule: every update trains the largest, the smallest and N random "
                                     "SubTransformers (gradients summed, one optimizer step); 0: one random "
                                     "SubTransformer per update, as the original"})
    inplace_distill: float = field(
        default=0.0, metadata={"help": "in-place distillation weight W (needs --sandwich-random): the sandwich's "
                                       "other SubTransformers learn (1 - W) * label loss + W * KL(largest || them); "
                                       "0: off"})


def check_sandwich_options(cfg: TranslationSuperTransformerConfig) -> None:
    """Raise a :class:`ConfigError` for sandwich / distillation options that cannot work together."""
    if cfg.sandwich_random < 0:
        raise ConfigError(f"--sandwich-random {cfg.sandwich_random}: the number of random SubTransformers per "
                          "update must be 0 (off) or more")
    if not 0.0 <= cfg.inplace_distill <= 1.0:
        raise ConfigError(f"--inplace-distill {cfg.inplace_distill}: the distillation weight must be between 0 and 1")
    if cfg.inplace_distill and not cfg.sandwich_random:
        raise ConfigError("--inplace-distill needs --sandwich-random N: its teacher, the largest SubTransformer, "
                          "is only computed in a sandwich update")
    if cfg.sandwich_random and cfg.train_subtransformer:
        raise ConfigError("--sandwich-random trains the SuperTransformer's search space; it cannot be combined "
                          "with --train-subtransformer")


def unwrap_supertransformer(model: torch.nn.Module) -> TransformerSuperModel:
    """The SuperTransformer inside fairseq's distributed wrappers."""
    while not isinstance(model, TransformerSuperModel):
        if not hasattr(model, "module"):
            raise ConfigError(f"task translation_supertransformer needs a transformersuper model (--arch "
                              f"transformersuper*), got {type(model).__name__}")
        model = model.module
    return model


def representative_configs(space: SearchSpace) -> Dict[str, Dict[str, Any]]:
    """The original's ``largest_arbitrary1`` / ``smallest_arbitrary1`` validation configs."""
    return {"largest": space.largest(), "smallest": space.smallest()}


def sandwich_configs(space: SearchSpace, update_num: int, n_random: int) -> Dict[str, Dict[str, Any]]:
    """The SubTransformers of sandwich update ``update_num`` by role: ``largest`` (first: the distillation
    teacher), ``smallest``, ``random1`` .. ``random<n_random>``. The random ones are ``space.sample`` with seeds
    ``n_random * update_num + i``: fresh seeds at every update, a pure function of the update number (the same
    on every worker and after a resume), and with ``n_random`` 1 the uniform sampler's SubTransformer."""
    randoms = {f"random{i + 1}": space.sample(n_random * update_num + i) for i in range(n_random)}
    return {**representative_configs(space), **randoms}


def merge_sandwich_logs(logs: Dict[str, Dict[str, Any]]) -> Dict[str, Any]:
    """One logging output for the members of a sandwich update: the batch counts (``ntokens``,
    ``sample_size``, ...) once, ``loss`` / ``nll_loss`` the members' mean, ``distill_loss`` the students'
    mean, and the largest's and smallest's own losses as ``largest_loss`` / ``smallest_loss``."""
    merged = dict(logs["largest"])
    for key in ("loss", "nll_loss"):
        merged[key] = sum(log[key] for log in logs.values()) / len(logs)
    distill = [log["distill_loss"] for log in logs.values() if "distill_loss" in log]
    if distill:
        merged["distill_loss"] = sum(distill) / len(distill)
    for name in REPRESENTATIVES:
        merged[f"{name}_loss_sum"] = logs[name]["loss"]
        merged[f"{name}_nll_loss_sum"] = logs[name]["nll_loss"]
    return merged


@register_task("translation_supertransformer", dataclass=TranslationSuperTransformerConfig)
class TranslationSuperTransformerTask(TranslationTask):
    cfg: TranslationSuperTransformerConfig

    def __init__(self, cfg: TranslationSuperTransformerConfig, src_dict, tgt_dict):
        check_sandwich_options(cfg)
        super().__init__(cfg, src_dict, tgt_dict)

    @classmethod
    def setup_task(cls, cfg, **kwargs):
        """fairseq's setup (dictionaries of the data folder), with a missing or foreign data folder as a
        :class:`hat.errors.DataError` naming it."""
        paths = utils.split_paths(cfg.data) if cfg.data else []
        if not paths or not os.path.isdir(paths[0]):
            raise DataError(f"binarised data folder not found: {cfg.data!r} "
                            "(give --data, or the data: key of the config)")
        if (cfg.source_lang is None or cfg.target_lang is None) and None in data_utils.infer_language_pair(paths[0]):
            raise DataError(f"{paths[0]}: cannot tell the language pair (no <split>.<src>-<tgt>.<lang>.idx files); "
                            "give --source-lang and --target-lang")
        try:
            return super().setup_task(cfg, **kwargs)
        except FileNotFoundError as exc:
            raise DataError(f"{paths[0]} is not a binarised data folder: {exc.strerror}: {exc.filename}") from None

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        """fairseq's, with a missing split as a :class:`hat.errors.DataError` naming it and the data folder."""
        try:
            super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)
        except FileNotFoundError as exc:
            raise DataError(f"cannot load the '{split}' split from {self.cfg.data}: {exc}") from None

    def build_model(self, cfg, from_checkpoint: bool = False):
        model = super().build_model(cfg, from_checkpoint)
        super_model = unwrap_supertransformer(model)
        self.subtransformer = (check_fits(config_from_args(super_model.args), super_model.args)
                               if self.cfg.train_subtransformer else None)
        self.model_args = super_model.args
        return model

    @functools.cached_property
    def space(self) -> SearchSpace:
        """The search space of SuperTransformer training (built on first use: generation needs none)."""
        return SearchSpace.from_args(self.model_args)

    def config_for_update(self, update_num: int) -> Dict[str, Any]:
        """The SubTransformer trained at update ``update_num``: a pure function of the update number."""
        return self.subtransformer if self.subtransformer is not None else self.space.sample(update_num)

    def validation_configs(self) -> Dict[str, Dict[str, Any]]:
        if self.subtransformer is not None:
            return {"subtransformer": self.subtransformer}
        return representative_configs(self.space)

    def _set_config(self, model: torch.nn.Module, update_num: int, config: Dict[str, Any], role: str = "") -> None:
        unwrap_supertransformer(model).set_sample_config(config)
        if self.cfg.log_sampled_configs:  # printed on every rank (fairseq silences non-master loggers)
            print(f"update {update_num} {role + ' ' if role else ''}SubTransformer {config}", file=sys.stderr,
                  flush=True)

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        if self.cfg.sandwich_random:
            return self.sandwich_step(sample, model, criterion, optimizer, update_num, ignore_grad)
        self._set_config(model, update_num, self.config_for_update(update_num))
        return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)

    def sandwich_step(self, sample, model, criterion, optimizer, update_num,
                      ignore_grad=False) -> Tuple[torch.Tensor, int, Dict[str, Any]]:
        """Forward and backward of every member of the sandwich on this micro-batch (gradients summed); the
        sample size counts once, so each member's gradient is scaled as if it were trained alone."""
        members = sandwich_configs(self.space, update_num, self.cfg.sandwich_random)
        member_criterion = (InplaceDistillation(criterion, unwrap_supertransformer(model), self.cfg.inplace_distill)
                            if self.cfg.inplace_distill else criterion)
        total, logs = 0.0, {}
        for i, (role, config) in enumerate(members.items()):
            self._set_config(model, update_num, config, role)
            # c10d DDP all-reduces at every backward: the members before the last accumulate locally, as the
            # trainer's micro-batches do, so each micro-batch synchronises (or not) once, as it would unsandwiched.
            last = i == len(members) - 1
            with contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync():
                loss, sample_size, logs[role] = super().train_step(sample, model, member_criterion, optimizer,
                                                                   update_num, ignore_grad)
            total = total + loss.detach()
        return total, sample_size, merge_sandwich_logs(logs)

    def build_generator(self, models, args, *rest, **kwargs):
        """Set the SubTransformer to generate with (``--subtransformer-config``, else the checkpoint's own) on
        every model, then build fairseq's generator. An exported model (``generate.py --onnx``) is one
        SubTransformer already."""
        from ..runtime.onnxruntime_model import OnnxRuntimeSubTransformer

        for model in models:
            if isinstance(model, OnnxRuntimeSubTransformer):
                if self.cfg.subtransformer_config:
                    raise ConfigError("an exported SubTransformer (--onnx) is one SubTransformer: drop --configs")
                continue
            super_model = unwrap_supertransformer(model)
            if self.cfg.subtransformer_config:
                config = check_fits_model(read_subtransformer_yaml(self.cfg.subtransformer_config), super_model)
                check_trained_space(config, super_model.args, self.cfg.subtransformer_config,
                                    self.cfg.allow_off_space)
            elif getattr(super_model.args, "encoder_embed_dim_subtransformer", None) is None:
                raise ConfigError("the checkpoint is a SuperTransformer: name the SubTransformer to generate with "
                                  "(generate.py --configs=<sub.yml>, or --subtransformer-config <sub.yml>)")
            else:
                config = check_fits_model(config_from_args(super_model.args), super_model)
            super_model.set_sample_config(config)
        return super().build_generator(models, args, *rest, **kwargs)

    def valid_step(self, sample, model, criterion) -> Tuple[torch.Tensor, int, Dict[str, Any]]:
        super_model = unwrap_supertransformer(model)
        results = {}
        for name, config in self.validation_configs().items():
            super_model.set_sample_config(config)
            results[name] = super().valid_step(sample, model, criterion)
        loss, sample_size, logging_output = results[list(results)[-1]]
        logging_output = dict(logging_output)
        for name, (_, _, log) in results.items():
            logging_output[f"{name}_loss_sum"] = log["loss"]
            logging_output[f"{name}_nll_loss_sum"] = log["nll_loss"]
        return loss, sample_size, logging_output

    def reduce_metrics(self, logging_outputs: List[Dict[str, Any]], criterion) -> None:
        super().reduce_metrics(logging_outputs, criterion)
        ntokens = sum(log.get("ntokens", 0) for log in logging_outputs)
        sample_size = sum(log.get("sample_size", 0) for log in logging_outputs)
        for name in ("subtransformer",) + REPRESENTATIVES:
            key = f"{name}_loss_sum"
            if not any(key in log for log in logging_outputs) or not sample_size:
                continue
            loss = sum(float(log.get(key, 0)) for log in logging_outputs)
            nll = sum(float(log.get(f"{name}_nll_loss_sum", 0)) for log in logging_outputs)
            metrics.log_scalar(f"{name}_loss", loss / sample_size / math.log(2), sample_size, round=3)
            metrics.log_scalar(f"{name}_nll_loss", nll / max(ntokens, 1) / math.log(2), ntokens, round=3)
        if sample_size and any("distill_loss" in log for log in logging_outputs):
            distill = sum(float(log.get("distill_loss", 0)) for log in logging_outputs)
            metrics.log_scalar("distill_loss", distill / sample_size / math.log(2), sample_size, round=3)
