"""Checkpoint averaging as fairseq's ``scripts/average_checkpoints.py`` (the original's ``average_checkpoints.py``,
run by its ``configs/iwslt14.de-en/average_checkpoint.sh``).

The IWSLT numbers of the paper average the last 10 epoch checkpoints.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import CheckpointError, load_trusted

EPOCH_CHECKPOINT = re.compile(r"checkpoint(\d+)\.pt$")
UPDATE_CHECKPOINT = re.compile(r"checkpoint_\d+_(\d+)\.pt$")


def last_checkpoints(folder: str | Path, count: int, by_update: bool = False,
                     upper_bound: int | None = None) -> list[Path]:
    """The ``count`` checkpoints of ``folder`` with the highest epoch (``checkpoint<epoch>.pt``) or update
    (``checkpoint_<epoch>_<update>.pt``) numbers, at most ``upper_bound``, newest first."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CheckpointError(f"checkpoint folder not found: {folder}")
    pattern = UPDATE_CHECKPOINT if by_update else EPOCH_CHECKPOINT
    numbered = sorted(((int(m.group(1)), path) for path in folder.iterdir() if (m := pattern.fullmatch(path.name))
                       and (upper_bound is None or int(m.group(1)) <= upper_bound)), reverse=True)
    if len(numbered) < count:
        kind = "update" if by_update else "epoch"
        raise CheckpointError(f"{folder} has {len(numbered)} {kind} checkpoints, {count} are needed")
    return [path for _, path in numbered[:count]]


def average_checkpoints(paths: Sequence[str | Path]) -> dict[str, Any]:
    """The first checkpoint's entries with ``model`` replaced by the arithmetic mean of every model's tensors
    (floating point tensors averaged in float32, fp16 included, as fairseq; integer tensors floor-divided)."""
    if not paths:
        raise CheckpointError("no checkpoints to average")
    newest: dict[str, Any] | None = None
    sums: dict[str, torch.Tensor] = {}
    for path in paths:
        state = load_trusted(path)
        newest = newest or state
        model = state["model"]
        if sums and list(model) != list(sums):
            raise CheckpointError(f"{path} holds other weights than {paths[0]}: cannot average them")
        for key, tensor in model.items():
            tensor = tensor.float() if tensor.is_floating_point() else tensor.clone()
            sums[key] = sums[key] + tensor if key in sums else tensor
    averaged = {key: total / len(paths) if total.is_floating_point() else torch.div(total, len(paths), rounding_mode="floor")
                for key, total in sums.items()}
    return {**newest, "model": averaged}
