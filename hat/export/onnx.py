"""Export a SubTransformer to ONNX graphs that run incremental decoding (``--format onnx``).

Two graphs, written to a folder with a ``subtransformer.json`` that describes them:

- ``encoder.onnx``: ``src_tokens [B, S]`` (int64, fairseq's left-padded batch) -> ``encoder_padding_mask
  [B, S]`` (bool) and, for every decoder layer ``i``, the encoder-decoder keys and values ``ende_key_i``,
  ``ende_value_i`` ``[B, heads_i, S_i, head_dim_i]``: projected once per sentence, as fairseq's own
  incremental decoding caches them at the first step. ``S_i`` is ``S`` times the number of encoder layers
  layer ``i`` attends (HAT's arbitrary encoder-decoder attention, ``decoder-arbitrary-ende-attn``).
- ``decoder_step.onnx``: one decoding step. Inputs: ``prev_token [B, 1]`` (int64), ``encoder_padding_mask``,
  then per layer the self-attention cache ``self_key_i``, ``self_value_i`` ``[B, heads_i, T, head_dim_i]``
  (``T`` = tokens decoded so far, 0 at the first step; it also gives the step's position) and
  ``ende_key_i``, ``ende_value_i``. Outputs: ``logits [B, 1, V]`` and the caches grown by one step,
  ``new_self_key_i``, ``new_self_value_i``.

The graphs are traced from the compact SubTransformer's own modules (:mod:`hat.subtransformer`), so
heterogeneous layers, a ``qkv-dim`` different from the embed dims and arbitrary attention need nothing
special. ``int8=True`` adds ONNX Runtime's dynamic int8 quantization of the weights (``*.int8.onnx``).
Needs the optional ``onnx`` package (``pip install -e ".[deploy]"``).
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from ..errors import ConfigError
from ..io import PathLike, write_text_atomic
from ..models.transformer_super import ARBITRARY_EXTRA_LAYERS, TransformerSuperModel

OPSET = 17
METADATA = "subtransformer.json"
FORMAT_VERSION = 1


def require(module: str):
    """Import an optional deployment dependency, or one line saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"this needs the optional package '{module}': pip install -e \".[deploy]\"") from None


def graph_file(graph: str, int8: bool = False) -> str:
    """``encoder.onnx``, ``decoder_step.int8.onnx``, ..."""
    return f"{graph}{'.int8' if int8 else ''}.onnx"


class EncoderGraph(nn.Module):
    """The traced encoder: source tokens -> padding mask and every decoder layer's encoder-decoder keys/values."""

    def __init__(self, model: TransformerSuperModel):
        super().__init__()
        self.model = model

    def forward(self, src_tokens: Tensor) -> Tuple[Tensor, ...]:
        encoder, decoder = self.model.encoder, self.model.decoder
        mask = src_tokens.eq(encoder.padding_idx)
        encoder_out = encoder.forward_masked(src_tokens, mask)
        outputs: List[Tensor] = [mask]
        for i, layer in enumerate(decoder.layers[: decoder.sample_layer_num]):
            states, _ = decoder.attended_encoder_states(encoder_out, decoder.arbitrary_ende_attn[i])
            outputs.extend(layer.encoder_attn.static_keys_values(states))
        return tuple(outputs)


class DecoderStepGraph(nn.Module):
    """The traced decoder step: the layers' own incremental decoding, its cache given as inputs."""

    def __init__(self, model: TransformerSuperModel):
        super().__init__()
        self.model = model

    def forward(self, prev_token: Tensor, encoder_padding_mask: Tensor, *caches: Tensor) -> Tuple[Tensor, ...]:
        decoder = self.model.decoder
        layers = decoder.layers[: decoder.sample_layer_num]
        state: Dict[str, Dict[str, Tensor]] = {}
        for i, layer in enumerate(layers):
            self_key, self_value, ende_key, ende_value = caches[4 * i: 4 * i + 4]
            copies = ARBITRARY_EXTRA_LAYERS[decoder.arbitrary_ende_attn[i]] + 1
            layer.self_attn.set_incremental_state(state, "attn_state", {
                "prev_key": self_key, "prev_value": self_value, "prev_key_padding_mask": None})
            layer.encoder_attn.set_incremental_state(state, "attn_state", {
                "prev_key": ende_key, "prev_value": ende_value,
                "prev_key_padding_mask": encoder_padding_mask.repeat(1, copies)})
        step = caches[0].size(2)
        positions = decoder.embed_positions.at_step(step, prev_token.size(0)) if decoder.embed_positions is not None \
            else None
        x = decoder._embed(prev_token, "decoder", positions).transpose(0, 1)
        for layer in layers:
            x, _ = layer(x, None, None, state, None, False)
        if decoder.layer_norm is not None:
            x = decoder.layer_norm(x)
        outputs: List[Tensor] = [decoder.output_layer(x.transpose(0, 1))]
        for layer in layers:
            saved = layer.self_attn.get_incremental_state(state, "attn_state")
            outputs += [saved["prev_key"], saved["prev_value"]]
        return tuple(outputs)


def describe_layers(model: TransformerSuperModel) -> List[Dict[str, int]]:
    """Per decoder layer: heads and head dim of both attentions, and how many encoder layers it attends."""
    decoder = model.decoder
    return [{"self_heads": layer.self_attn.num_heads, "self_head_dim": layer.self_attn.head_dim,
             "ende_heads": layer.encoder_attn.num_heads, "ende_head_dim": layer.encoder_attn.head_dim,
             "attended_encoder_layers": ARBITRARY_EXTRA_LAYERS[decoder.arbitrary_ende_attn[i]] + 1}
            for i, layer in enumerate(decoder.layers[: decoder.sample_layer_num])]


def io_names(layers: int) -> Dict[str, List[str]]:
    """Input and output names of both graphs for a decoder of ``layers`` layers."""
    ende = [f"ende_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]
    step_inputs = ["prev_token", "encoder_padding_mask"] + [
        f"{name}_{i}" for i in range(layers) for name in ("self_key", "self_value", "ende_key", "ende_value")]
    return {"encoder_inputs": ["src_tokens"], "encoder_outputs": ["encoder_padding_mask"] + ende,
            "decoder_inputs": step_inputs,
            "decoder_outputs": ["logits"] + [f"new_self_{kind}_{i}" for i in range(layers) for kind in ("key", "value")]}


def _example_inputs(model: TransformerSuperModel, layers: List[Dict[str, int]]) -> Tuple[Tensor, Tuple[Tensor, ...]]:
    """Source tokens with some padding (so the trace keeps the mask) and one decoder step's inputs after 2 steps."""
    pad, bsz, src_len, past = model.encoder.padding_idx, 2, 5, 2
    src = torch.full((bsz, src_len), 4, dtype=torch.long)
    src[0, :2] = pad
    src[:, -1] = model.encoder.dictionary.eos()
    caches: List[Tensor] = []
    for layer in layers:
        caches += [torch.zeros(bsz, layer["self_heads"], past, layer["self_head_dim"]) for _ in range(2)]
        caches += [torch.zeros(bsz, layer["ende_heads"], src_len * layer["attended_encoder_layers"],
                               layer["ende_head_dim"]) for _ in range(2)]
    step = (torch.full((bsz, 1), 4, dtype=torch.long), src.eq(pad), *caches)
    return src, step


def _dynamic_axes(names: Dict[str, List[str]]) -> Tuple[Dict[str, Dict[int, str]], Dict[str, Dict[int, str]]]:
    encoder = {"src_tokens": {0: "batch", 1: "src_len"}, "encoder_padding_mask": {0: "batch", 1: "src_len"}}
    encoder.update({n: {0: "batch", 2: "attended_len"} for n in names["encoder_outputs"][1:]})
    decoder = {"prev_token": {0: "batch"}, "encoder_padding_mask": {0: "batch", 1: "src_len"}, "logits": {0: "batch"}}
    decoder.update({n: {0: "batch", 2: "past_len" if "self" in n else "attended_len"}
                    for n in names["decoder_inputs"][2:]})
    decoder.update({n: {0: "batch", 2: "new_len"} for n in names["decoder_outputs"][1:]})
    return encoder, decoder


def _trace_to_onnx(module: nn.Module, args: Tuple, path: Path, inputs: List[str], outputs: List[str],
                   axes: Dict[str, Dict[int, str]]) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter warns that it is deprecated, and about shape values it records as constants
        # that are the model's own dimensions (heads, head dim)
        warnings.simplefilter("ignore")
        torch.onnx.export(module, args, str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=outputs, dynamic_axes=axes, do_constant_folding=True)


def quantize_int8(source: PathLike, target: PathLike) -> None:
    """ONNX Runtime's dynamic quantization: int8 weights (per output channel), activations quantized per call.

    Weights use 7 bits (``reduce_range``): on x86 CPUs without VNNI, ONNX Runtime's u8 x s8 kernels add pairs of
    products in 16 bits, which saturate with full-range weights (logits of a test model were off by 36% of their
    range; 3% with 7 bits), as ONNX Runtime's quantization guide warns."""
    quantization = require("onnxruntime.quantization")
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.WARNING))  # its per-tensor INFO lines go to the root logger
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            quantization.quantize_dynamic(str(source), str(target), weight_type=quantization.QuantType.QInt8,
                                          per_channel=True, reduce_range=True)
    finally:
        root.setLevel(level)


def export_onnx(model: TransformerSuperModel, folder: PathLike, int8: bool = False,
                extra: Dict[str, Any] | None = None) -> Dict[str, Any]:
    """Write the compact SubTransformer ``model`` (from :func:`hat.subtransformer.extract_subtransformer`) as
    ONNX graphs into ``folder`` (see the module docstring), checked by ``onnx.checker``; with ``int8`` also the
    int8 graphs. Returns the metadata written to ``folder/subtransformer.json`` (``extra`` is added to it).
    Files appear complete or not at all: each is written under a temporary name, then renamed."""
    onnx = require("onnx")
    if not getattr(model.args, "compact_subtransformer", False):
        raise ConfigError("export_onnx needs a compact SubTransformer (hat.subtransformer.extract_subtransformer)")
    model = model.eval().float().cpu()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    layers = describe_layers(model)
    names = io_names(len(layers))
    encoder_axes, decoder_axes = _dynamic_axes(names)
    src, step = _example_inputs(model, layers)
    files: Dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=folder, prefix=".export.") as tmp:
        staged = []
        for graph, module, args, inputs, outputs, axes in (
                ("encoder", EncoderGraph(model).eval(), (src,), names["encoder_inputs"], names["encoder_outputs"], encoder_axes),
                ("decoder_step", DecoderStepGraph(model).eval(), step, names["decoder_inputs"], names["decoder_outputs"],
                 decoder_axes)):
            path = Path(tmp) / graph_file(graph)
            _trace_to_onnx(module, args, path, inputs, outputs, axes)
            onnx.checker.check_model(str(path))
            staged.append(path)
            files[graph] = graph_file(graph)
            if int8:
                quantized = Path(tmp) / graph_file(graph, int8=True)
                quantize_int8(path, quantized)
                onnx.checker.check_model(str(quantized))
                staged.append(quantized)
                files[f"{graph}_int8"] = graph_file(graph, int8=True)
        for path in staged:
            os.replace(path, folder / path.name)
    metadata = {"format_version": FORMAT_VERSION, "opset": OPSET, "files": files, "config": model.sample_config,
                "layers": layers, "io": names, "padding_idx": model.decoder.padding_idx,
                "eos": model.decoder.dictionary.eos(), "source_vocab_size": len(model.encoder.dictionary),
                "target_vocab_size": len(model.decoder.dictionary),
                "max_positions": list(model.max_positions()), "torch_version": torch.__version__,
                "sizes_bytes": {name: os.path.getsize(folder / file) for name, file in files.items()}, **(extra or {})}
    write_text_atomic(folder / METADATA, json.dumps(metadata, indent=2) + "\n")
    return metadata


def read_metadata(folder: PathLike) -> Dict[str, Any]:
    """The ``subtransformer.json`` of an exported folder; one clear error when it is missing or unreadable."""
    path = Path(folder) / METADATA
    try:
        metadata = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{folder} is not an exported ONNX SubTransformer: no {METADATA} "
                          "(write one with scripts/export_subtransformer.py --format onnx)") from None
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from None
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ConfigError(f"{path} has format version {metadata.get('format_version')}, this hat reads "
                          f"{FORMAT_VERSION}: export the SubTransformer again")
    return metadata
