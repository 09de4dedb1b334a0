"""#Params and FLOPs of a SubTransformer by the original's rules (the original's `TransformerSuperModel.get_sampled_params_numel` and `train.py --profile-flops`).

Both exclude the token embeddings and the output projection ("they depend on the task"), so they
need no dataset: the model is built on a small dummy vocabulary.
"""
import warnings
from argparse import Namespace
from typing import Any, Dict, List, Optional, Tuple

import torch
from fairseq.data import Dictionary

from .models.transformer_super import TransformerSuperModel
from .search_space import (OFF_SPACE_FLAG, ConfigError, check_choices, check_fits, choice_flag_defaults,
                           config_from_args, yaml_label)

DUMMY_TOKEN = 7  # the original's dummy sentence: EOS (2) then token 7 (the fourth regular word)


def dummy_sentence_length(arch: str, override: Optional[int] = None) -> int:
    """The dummy sentence length ``L``: the original's 23 for IWSLT arches and 30 for WMT (and any
    other arch); 20 for Multi30k arches (its sentences are short: about 15 BPE tokens on average)."""
    if override is not None:
        return override
    if "iwslt" in arch:
        return 23
    return 20 if "multi30k" in arch else 30


def dummy_dictionary(size: int = 16) -> Dictionary:
    """A fairseq dictionary of ``size`` symbols (4 special ones included)."""
    d = Dictionary()
    for i in range(size - len(d)):
        d.add_symbol(f"w{i}")
    return d


def build_for_profiling(args: Namespace, vocab_size: int = 16) -> TransformerSuperModel:
    """A SuperTransformer of ``args``'s super dims, random weights, on a dummy vocabulary (no data needed)."""
    vocab = dummy_dictionary(vocab_size)
    return TransformerSuperModel.build(Namespace(**vars(args)), vocab, vocab)


def sampled_params_numel(model: TransformerSuperModel, config: Dict[str, Any]) -> int:
    """#Params of SubTransformer ``config``: active layers' attention, FFN and LayerNorms; no embeddings
    and no output layer. Final LayerNorms of pre-LN models are counted (the original crashed on them)."""
    model.set_sample_config(config)
    active = [*model.encoder.layers[: model.encoder.sample_layer_num],
              *model.decoder.layers[: model.decoder.sample_layer_num],
              model.encoder.layer_norm, model.decoder.layer_norm]
    return sum(m.sampled_params_numel() for layer in active if layer is not None
               for m in layer.modules() if hasattr(m, "sampled_params_numel"))


def dummy_inputs(length: int, batch: int = 1):
    """Source ``[2, 7, ..., 7]`` and previous-output tokens ``[7, ..., 7, 2]`` of the original (batch ``batch``)."""
    src = torch.tensor([[2] + [DUMMY_TOKEN] * (length - 1)] * batch, dtype=torch.long)
    prev = torch.tensor([[DUMMY_TOKEN] * (length - 1) + [2]] * batch, dtype=torch.long)
    return src, prev


def profile_flops(model: TransformerSuperModel, config: Dict[str, Any], length: int) -> Dict[str, int]:
    """FLOPs of one teacher-forced forward on the dummy sentence, traced with torchprofile.

    Returns ``flops`` (published: output layer excluded), ``total_flops`` and ``last_layer_flops``.
    """
    from torchprofile import profile_macs

    model.set_sample_config(config)
    src, prev = dummy_inputs(length)
    src_lengths = torch.tensor([length])
    with warnings.catch_warnings():  # torchprofile names every op it does not count (they count 0)
        warnings.filterwarnings("ignore", message="No handlers found")
        macs = profile_macs(_TeacherForced(model), (src, src_lengths, prev))
    last_layer_macs = config["decoder"]["decoder_embed_dim"] * length * len(model.decoder.dictionary)
    return {"flops": 2 * (macs - last_layer_macs), "total_flops": 2 * macs, "last_layer_flops": 2 * last_layer_macs}


class _TeacherForced(torch.nn.Module):
    """Wraps the model so the traced output is the logits tensor alone."""

    def __init__(self, model: TransformerSuperModel):
        super().__init__()
        self.model = model

    def forward(self, src_tokens, src_lengths, prev_output_tokens):
        return self.model(src_tokens, src_lengths, prev_output_tokens)[0]


def _given_choices(args: Namespace) -> Dict[str, Tuple[List[int], str]]:
    """The ``*-choice`` lists that define a search space for ``--profile-flops``, with where each was set: a key of
    the config files (``--configs``, ``--sub-configs``) or a list changed on the command line. The original's
    ``--configs=<sub.yml> --sub-configs=common.yml`` sets none: the parser defaults are no space."""
    from .config_args import read_config_file

    set_in = {}
    for path in (getattr(args, "configs", None), getattr(args, "sub_configs", None)):
        if path:
            set_in.update({key: path for key in read_config_file(path)})
    given = {}
    for flag, default in choice_flag_defaults().items():
        key, value = flag[2:], getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None and (key in set_in or list(value) != default):
            given[key] = (list(value), set_in.get(key, "the command line"))
    return given


def profile_subtransformer(args: Namespace) -> Dict[str, Any]:
    """#Params and FLOPs of the SubTransformer given by the ``*-subtransformer`` arguments (``--profile-flops``).

    The config must fit the SuperTransformer's dimensions (:func:`check_fits`) and, unless ``args.allow_off_space``,
    be in the ``*-choice`` lists the config files set (none in the original's SubTransformer configs)."""
    config = check_fits(config_from_args(args), args)
    if not getattr(args, "allow_off_space", False):
        for key, (choices, where) in _given_choices(args).items():
            try:
                check_choices(config, {key: choices}, label=yaml_label)
            except ConfigError as error:
                raise ConfigError(f"SubTransformer: {error}, the search space of {where} ({OFF_SPACE_FLAG} profiles "
                                  "a config outside it)") from None
    model = build_for_profiling(args)
    length = dummy_sentence_length(args.arch, getattr(args, "dummy_sentence_length", None))
    result = {"config": config, "params": sampled_params_numel(model, config), "dummy_sentence_length": length}
    result.update(profile_flops(model, config, length))
    return result
