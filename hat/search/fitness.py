"""Fitness of the evolutionary search: validation loss of a SubTransformer with inherited weights (as the original's `fairseq/evolution.py`, `Evolution.get_scores` / `validate_all`).

The validation batches are built and collated once, moved to the device once, and reused for every
candidate. The loss is the original's: the criterion's (label-smoothed) loss summed over the batches,
divided by the sample size and by ln 2 (bits per token, fairseq's ``valid_loss``).
"""
from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping
from typing import Any, Optional

import torch
from fairseq import utils

from ..models.transformer_super import TransformerSuperModel
from ..errors import DataError


def check_sizes(dataset: Any, subset: str, max_positions: Any) -> None:
    """Every sentence of ``dataset`` fits ``max_positions``, else one clear error (fairseq's own is a bare
    ``Exception`` raised deep in its batching)."""
    _, ignored = dataset.filter_indices_by_size(dataset.ordered_indices(), max_positions)
    if len(ignored):
        raise DataError(f"{len(ignored)} sentence(s) of the {subset} split are longer than the model's "
                        f"max positions {max_positions} (first: sentence {ignored[0]}, size "
                        f"{dataset.size(ignored[0])}); pass --skip-invalid-size-inputs-valid-test to leave them "
                        "out of the search's validation batches")


class ValidationLoss:
    """``loss = ValidationLoss(...)(config)``: the SubTransformer ``config`` of ``model`` on fixed batches."""

    def __init__(self, model: TransformerSuperModel, criterion: torch.nn.Module, batches: list[dict[str, Any]]):
        if not batches:
            raise DataError("the validation set gave no batches to evaluate the search's candidates on")
        self.model, self.criterion, self.batches = model, criterion, batches

    @classmethod
    def from_task(cls, task: Any, model: TransformerSuperModel, criterion: torch.nn.Module, subset: str,
                  max_tokens: Optional[int], max_sentences: Optional[int], max_batches: Optional[int],
                  device: torch.device, half: bool = False, seed: int = 1, required_batch_size_multiple: int = 8,
                  skip_invalid_size: bool = False) -> ValidationLoss:
        """Batches of ``subset`` as the original's search forms them (`validate_all`: fairseq's validation
        iterator, no shuffling, ``--required-batch-size-multiple``, too-long sentences an error unless
        ``--skip-invalid-size-inputs-valid-test``), at most ``max_batches`` (the original's ``--valid-cnt-max``)."""
        dataset = task.dataset(subset)
        max_positions = utils.resolve_max_positions(task.max_positions(), model.max_positions())
        if not skip_invalid_size:
            check_sizes(dataset, subset, max_positions)
        iterator = task.get_batch_iterator(
            dataset=dataset, max_tokens=max_tokens, max_sentences=max_sentences, max_positions=max_positions,
            ignore_invalid_inputs=skip_invalid_size, required_batch_size_multiple=required_batch_size_multiple,
            seed=seed, num_workers=0).next_epoch_itr(shuffle=False)
        with warnings.catch_warnings():  # fairseq asks for pinned memory, which a CPU-only machine lacks
            warnings.filterwarnings("ignore", message=".*pin_memory.*")
            batches = [sample for sample in itertools.islice(iterator, max_batches) if sample]
        batches = [utils.apply_to_sample(lambda t: t.to(device), sample) for sample in batches]
        model = model.to(device)
        criterion = criterion.to(device)
        if half:
            model = model.half()
        return cls(model.eval(), criterion.eval(), batches)

    def with_shuffled_sources(self) -> ValidationLoss:
        """The same batches with each sentence's source replaced by the previous sentence's (rolled within
        each batch). A SuperTransformer that ignores its source scores the same on both: it has not learned to
        translate, and its validation loss ranks SubTransformers as language models."""

        def rolled(sample: dict[str, Any]) -> dict[str, Any]:
            net_input = dict(sample["net_input"])
            net_input["src_tokens"] = net_input["src_tokens"].roll(1, dims=0)
            net_input["src_lengths"] = net_input["src_lengths"].roll(1, dims=0)
            return {**sample, "net_input": net_input}

        return ValidationLoss(self.model, self.criterion, [rolled(sample) for sample in self.batches])

    @property
    def sentences(self) -> int:
        return sum(int(sample["nsentences"]) for sample in self.batches)

    def __call__(self, config: Mapping[str, Any]) -> float:
        self.model.set_sample_config(config)
        loss_sum, sample_size = 0.0, 0
        with torch.inference_mode():
            for sample in self.batches:
                _, size, log = self.criterion(self.model, sample)
                loss_sum += float(log["loss"])
                sample_size += int(size)
        return loss_sum / sample_size / math.log(2)

