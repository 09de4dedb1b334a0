"""Extract a sampled SubTransformer into a compact standalone model.

The compact model is a ``transformersuper`` model built with ``compact_subtransformer=True``: its
layers have the SubTransformer's own sizes, and its tensors are physical copies of the leading
slices of the SuperTransformer's (HAT's slicing rule), so nothing of the supernet is kept.
It is what latency measurement and deployment use.
"""
import copy
from argparse import Namespace
from typing import Any, Dict

import torch
from torch import Tensor

from .models.transformer_super import TransformerSuperModel
from .modules.slicing import leading
from .search_space import SUBTRANSFORMER_KEYS


def subtransformer_args(args: Namespace, config: Dict[str, Any]) -> Namespace:
    """Model arguments describing the compact SubTransformer ``config`` of the SuperTransformer ``args``."""
    sub = copy.copy(args)
    for yaml_key, (part, field) in SUBTRANSFORMER_KEYS.items():
        value = config[part][field]
        if isinstance(value, list):
            n = config[part][f"{part}_layer_num"]
            value = list(value[:n])
        setattr(sub, yaml_key.replace("-", "_"), value)
    sub.compact_subtransformer = True
    return sub


def _super_tensor(super_state: Dict[str, Tensor], key: str, qkv_dim: int) -> Tensor:
    """The SuperTransformer tensor a compact tensor is sliced from (a stacked Q/K/V weight may be split)."""
    if key in super_state:
        return super_state[key]
    prefix, _, name = key.rpartition(".")
    part = {"q_proj_weight": 0, "k_proj_weight": 1, "v_proj_weight": 2}[name]
    return super_state[f"{prefix}.in_proj_weight"][part * qkv_dim:(part + 1) * qkv_dim]


@torch.no_grad()
def extract_subtransformer(model: TransformerSuperModel, config: Dict[str, Any]) -> TransformerSuperModel:
    """A standalone model computing exactly what ``model`` computes after ``set_sample_config(config)``."""
    model.set_sample_config(config)  # validates that config fits the model
    args = subtransformer_args(model.args, config)
    compact = TransformerSuperModel.build(args, model.encoder.dictionary, model.decoder.dictionary)
    super_state = model.state_dict()
    compact_state = compact.state_dict()
    for key, target in compact_state.items():
        source = _super_tensor(super_state, key, args.qkv_dim)
        target.copy_(leading(source, *target.shape))
    compact.train(model.training)
    return compact.to(next(model.parameters()).device)
