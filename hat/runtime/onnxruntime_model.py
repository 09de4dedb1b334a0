"""An exported SubTransformer run by ONNX Runtime behind fairseq's model interface.

:class:`OnnxRuntimeSubTransformer` is a fairseq encoder-decoder model whose encoder and incremental
decoder call the ONNX Runtime sessions of a folder written by :func:`hat.export.onnx.export_onnx`. So
fairseq's own beam search (``SequenceGenerator``: beam size, length penalty, reordering, finished
sentences) drives the engine, and the latency protocol of :mod:`hat.latency.measure` times it the way it
times the PyTorch model. The cache lives in fairseq's ``incremental_state``: the self-attention keys and
values of every layer, grown by one step per call; the encoder-decoder keys and values live in the
encoder output, reordered with it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import torch
from fairseq.models import FairseqEncoder, FairseqEncoderDecoderModel, FairseqIncrementalDecoder
from torch import Tensor

from ..errors import ConfigError
from ..export.onnx import graph_file, read_metadata, require

EncoderOut = Dict[str, List[Tensor]]


def session(path: Path, threads: Optional[int]):
    """An ONNX Runtime CPU session of ``path`` with ``threads`` intra-op threads (None: ONNX Runtime's default)
    and sequential execution (one op at a time, as PyTorch eager)."""
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3  # errors only: not the optimizer's notes about shapes it cannot infer
    if not path.is_file():
        raise ConfigError(f"{path} not found: export the SubTransformer again "
                          "(scripts/export_subtransformer.py --format onnx [--int8])")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _numpy(t: Tensor):
    return t.detach().cpu().contiguous().numpy()


class OrtEncoder(FairseqEncoder):
    def __init__(self, dictionary, encoder_session, max_positions: int):
        super().__init__(dictionary)
        self.session = encoder_session
        self._max_positions = max_positions

    def forward(self, src_tokens: Tensor, src_lengths: Optional[Tensor] = None, **unused) -> EncoderOut:
        """``{"encoder_padding_mask": [mask], "ende": [key_0, value_0, key_1, ...]}``."""
        mask, *ende = self.session.run(None, {"src_tokens": _numpy(src_tokens)})
        return {"encoder_padding_mask": [torch.from_numpy(mask)], "ende": [torch.from_numpy(t) for t in ende]}

    def reorder_encoder_out(self, encoder_out: EncoderOut, new_order: Tensor) -> EncoderOut:
        return {key: [t.index_select(0, new_order) for t in values] for key, values in encoder_out.items()}

    def max_positions(self) -> int:
        return self._max_positions


class OrtDecoder(FairseqIncrementalDecoder):
    def __init__(self, dictionary, step_session, layers: List[Dict[str, int]], max_positions: int):
        super().__init__(dictionary)
        self.session = step_session
        self.layers = layers
        self._max_positions = max_positions
        self.input_names = [i.name for i in step_session.get_inputs()]

    def _empty_cache(self, bsz: int) -> List[Tensor]:
        return [torch.zeros(bsz, layer["self_heads"], 0, layer["self_head_dim"])
                for layer in self.layers for _ in range(2)]

    def step(self, token: Tensor, encoder_out: EncoderOut, cache: List[Tensor]) -> Tuple[Tensor, List[Tensor]]:
        """Logits ``[B, 1, V]`` of one step for ``token [B, 1]`` and the self-attention cache grown by one step."""
        ende = encoder_out["ende"]
        inputs = [token, encoder_out["encoder_padding_mask"][0]]
        for i in range(len(self.layers)):
            inputs += [cache[2 * i], cache[2 * i + 1], ende[2 * i], ende[2 * i + 1]]
        logits, *new_cache = self.session.run(None, dict(zip(self.input_names, map(_numpy, inputs))))
        return torch.from_numpy(logits), [torch.from_numpy(t) for t in new_cache]

    def forward(self, prev_output_tokens: Tensor, encoder_out: Optional[EncoderOut] = None,
                incremental_state: Optional[Dict[str, Dict[str, Optional[Tensor]]]] = None,
                features_only: bool = False, **unused) -> Tuple[Tensor, Dict[str, Any]]:
        """The last token's logits with ``incremental_state`` (fairseq's beam search), else every position's
        (teacher forcing, one step at a time)."""
        if encoder_out is None:
            raise ValueError("the ONNX Runtime decoder needs the encoder output")
        if features_only:
            raise ValueError("the exported decoder-step graph returns logits only (features_only is unsupported)")
        bsz = prev_output_tokens.size(0)
        if incremental_state is None:
            cache, logits = self._empty_cache(bsz), []
            for t in range(prev_output_tokens.size(1)):
                step_logits, cache = self.step(prev_output_tokens[:, t:t + 1], encoder_out, cache)
                logits.append(step_logits)
            return torch.cat(logits, dim=1), {"attn": [None]}
        saved = self.get_incremental_state(incremental_state, "cache")
        cache = self._empty_cache(bsz) if saved is None else [saved[str(i)] for i in range(2 * len(self.layers))]
        logits, cache = self.step(prev_output_tokens[:, -1:], encoder_out, cache)
        self.set_incremental_state(incremental_state, "cache", {str(i): t for i, t in enumerate(cache)})
        return logits, {"attn": [None]}

    def reorder_incremental_state(self, incremental_state, new_order: Tensor) -> None:
        saved = self.get_incremental_state(incremental_state, "cache")
        if saved is not None:
            self.set_incremental_state(incremental_state, "cache",
                                       {k: t.index_select(0, new_order) for k, t in saved.items()})

    def max_positions(self) -> int:
        return self._max_positions


class OnnxRuntimeSubTransformer(FairseqEncoderDecoderModel):
    """A fairseq model running an exported SubTransformer on ONNX Runtime (CPU)."""

    def __init__(self, encoder: OrtEncoder, decoder: OrtDecoder, metadata: Dict[str, Any], int8: bool):
        super().__init__(encoder, decoder)
        self.metadata = metadata
        self.int8 = int8

    @classmethod
    def load(cls, folder, src_dict, tgt_dict, int8: bool = False,
             threads: Optional[int] = None) -> "OnnxRuntimeSubTransformer":
        """The model of an exported ``folder`` (its int8 graphs with ``int8``), on the task's dictionaries, which
        must be the ones it was trained with (same sizes and padding index)."""
        folder = Path(folder)
        metadata = read_metadata(folder)
        for name, dictionary in (("source", src_dict), ("target", tgt_dict)):
            if len(dictionary) != metadata[f"{name}_vocab_size"] or dictionary.pad() != metadata["padding_idx"]:
                raise ConfigError(f"{folder} was exported for a {metadata[f'{name}_vocab_size']}-word {name} "
                                  f"dictionary, the data has {len(dictionary)} words: use the data it was trained on")
        files = metadata["files"]
        if int8 and "encoder_int8" not in files:
            raise ConfigError(f"{folder} has no int8 graphs: export it with --int8")
        encoder_max, decoder_max = metadata["max_positions"]
        encoder = OrtEncoder(src_dict, session(folder / graph_file("encoder", int8), threads), encoder_max)
        decoder = OrtDecoder(tgt_dict, session(folder / graph_file("decoder_step", int8), threads),
                             metadata["layers"], decoder_max)
        return cls(encoder, decoder, metadata, int8)
