"""The SuperTransformer: fairseq model ``transformersuper`` with elastic dims (the original's
``fairseq/models/transformer_super.py``).

``model.set_sample_config(config)`` selects a SubTransformer (the original's nested dict); forward
then runs exactly that SubTransformer with weights inherited from the supernet. With
``args.compact_subtransformer`` the same classes build a standalone SubTransformer whose tensors have
the SubTransformer's own shapes (see :mod:`hat.subtransformer`).
"""
import math
from argparse import Namespace
from typing import Any, Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq import utils
from fairseq.models import (FairseqEncoder, FairseqEncoderDecoderModel, FairseqIncrementalDecoder,
                            register_model, register_model_architecture)
from torch import Tensor

from ..modules.embedding_super import EmbeddingSuper
from ..modules.layer_norm_super import LayerNormSuper
from ..modules.multihead_attention_super import IncrementalState
from ..modules.positional_embedding import SinusoidalPositionalEmbeddingSuper
from ..modules.slicing import leading
from ..modules.transformer_layer_super import TransformerDecoderLayerSuper, TransformerEncoderLayerSuper
from ..errors import ConfigError
from ..search_space import check_fits_model, config_from_args

DEFAULT_MAX_POSITIONS = 1024
ARBITRARY_EXTRA_LAYERS = {-1: 0, 1: 1, 2: 2}  # decoder-arbitrary-ende-attn value -> extra encoder layers attended


def _sample_dropout(p: float, sample_dim: int, super_dim: int) -> float:
    """The original's ``calc_dropout``: dropout scaled by the sampled/super embed dim ratio."""
    return p * sample_dim / super_dim


class _Side:
    """Attributes and helpers common to the encoder and the decoder side."""

    def _init_side(self, args: Namespace, side: str, embed_tokens: EmbeddingSuper, max_positions: int) -> None:
        self.super_embed_dim = getattr(args, f"{side}_embed_dim")
        self.num_super_layers = getattr(args, f"{side}_layers")
        self.vocab_original_scaling = getattr(args, "vocab_original_scaling", False)
        self.base_dropout = args.dropout
        self.base_activation_dropout = getattr(args, "activation_dropout", 0.0) or getattr(args, "relu_dropout", 0.0)
        self.embed_tokens = embed_tokens
        self.padding_idx = embed_tokens.padding_idx
        self._max_positions = max_positions
        if getattr(args, f"{side}_learned_pos", False):
            raise ConfigError(f"--{side}-learned-pos is not supported by the SuperTransformer (sinusoidal positions only)")
        self.embed_positions = None if args.no_token_positional_embeddings else SinusoidalPositionalEmbeddingSuper(
            self.super_embed_dim, self.padding_idx, max_positions + self.padding_idx + 1)
        self.normalize_before = getattr(args, f"{side}_normalize_before", False)

    def max_positions(self) -> int:
        return self._max_positions

    def _embed(self, tokens: Tensor, part: str, positions: Optional[Tensor]) -> Tensor:
        scale = math.sqrt(self.super_embed_dim if self.vocab_original_scaling else self.sample_embed_dim)
        x = scale * self.embed_tokens(tokens, part)
        if positions is not None:
            x = x + positions
        return F.dropout(x, p=self.dropout, training=self.training)

    def _set_side_sample(self, embed_dim: int, layer_num: int, part: str) -> None:
        self.sample_embed_dim = embed_dim
        self.sample_layer_num = layer_num
        self.dropout = _sample_dropout(self.base_dropout, embed_dim, self.super_embed_dim)
        self.activation_dropout = _sample_dropout(self.base_activation_dropout, embed_dim, self.super_embed_dim)
        self.embed_tokens.set_sample_config(embed_dim, part)
        if self.embed_positions is not None:
            self.embed_positions.set_sample_config(embed_dim)
        if self.layer_norm is not None:
            self.layer_norm.set_sample_config(embed_dim)


class TransformerEncoderSuper(_Side, FairseqEncoder):
    def __init__(self, args: Namespace, dictionary, embed_tokens: EmbeddingSuper, layer_dims: List[Tuple[int, int, int]]):
        """``layer_dims``: per built layer, ``(embed_dim, ffn_dim, heads)`` capacities."""
        super().__init__(dictionary)
        self.register_buffer("version", torch.Tensor([3]))
        self._init_side(args, "encoder", embed_tokens, args.max_source_positions)
        self.layers = nn.ModuleList([
            TransformerEncoderLayerSuper(e, f, args.qkv_dim, h, args.attention_dropout,
                                         utils.get_activation_fn(args.activation_fn), self.normalize_before)
            for e, f, h in layer_dims])
        self.layer_norm = LayerNormSuper(layer_dims[0][0]) if self.normalize_before else None

    def set_sample_config(self, config: Dict[str, Any]) -> None:
        enc, dec = config["encoder"], config["decoder"]
        self._set_side_sample(enc["encoder_embed_dim"], enc["encoder_layer_num"], "encoder")
        # How many outputs before the last one the decoder's arbitrary attention reads: only those are kept.
        self.extra_attended_layers = max(ARBITRARY_EXTRA_LAYERS[a]
                                         for a in dec["decoder_arbitrary_ende_attn"][: dec["decoder_layer_num"]])
        for i, layer in enumerate(self.layers[: self.sample_layer_num]):
            layer.set_sample_config(enc["encoder_embed_dim"], enc["encoder_ffn_embed_dim"][i],
                                    enc["encoder_self_attention_heads"][i], self.dropout, self.activation_dropout,
                                    self.base_dropout)

    def forward(self, src_tokens: Tensor, src_lengths: Optional[Tensor] = None, return_all_hiddens: bool = False,
                token_embeddings: Optional[Tensor] = None) -> Dict[str, List[Tensor]]:
        padding_mask = src_tokens.eq(self.padding_idx)
        return self.forward_masked(src_tokens, padding_mask if padding_mask.any() else None, return_all_hiddens)

    def forward_masked(self, src_tokens: Tensor, padding_mask: Optional[Tensor],
                       return_all_hiddens: bool = False) -> Dict[str, List[Tensor]]:
        """:meth:`forward` with the padding mask given (None: no padding). A traced graph (ONNX export) passes
        it always, since a trace cannot keep :meth:`forward`'s test for padding."""
        positions = self.embed_positions(src_tokens) if self.embed_positions is not None else None
        x = self._embed(src_tokens, "encoder", positions).transpose(0, 1)
        outputs: List[Tensor] = []
        for layer in self.layers[: self.sample_layer_num]:
            x = layer(x, padding_mask)
            outputs.append(x)
        # Layers beyond the sampled depth are identity: their outputs are copies of the last one.
        outputs += [x] * (self.num_super_layers - len(outputs))
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        extra = self.extra_attended_layers
        return {
            "encoder_out": [x],
            "encoder_padding_mask": [] if padding_mask is None else [padding_mask],
            # the last layers' outputs that arbitrary encoder-decoder attention reads (none for -1 only)
            "encoder_out_all": outputs[len(outputs) - extra - 1:] if extra else [],
            "encoder_embedding": [],
            "encoder_states": outputs if return_all_hiddens else [],
            "src_tokens": [],
            "src_lengths": [],
        }

    def reorder_encoder_out(self, encoder_out: Dict[str, List[Tensor]], new_order: Tensor) -> Dict[str, List[Tensor]]:
        """Reorder along the batch axis (beam search); identity copies are reordered once."""
        cache: Dict[int, Tensor] = {}

        def reorder(t: Tensor, dim: int) -> Tensor:
            if id(t) not in cache:
                cache[id(t)] = t.index_select(dim, new_order)
            return cache[id(t)]

        out = dict(encoder_out)
        for key in ("encoder_out", "encoder_out_all", "encoder_states"):
            out[key] = [reorder(t, 1) for t in encoder_out[key]]
        out["encoder_padding_mask"] = [reorder(t, 0) for t in encoder_out["encoder_padding_mask"]]
        return out


class TransformerDecoderSuper(_Side, FairseqIncrementalDecoder):
    def __init__(self, args: Namespace, dictionary, embed_tokens: EmbeddingSuper,
                 layer_dims: List[Tuple[int, int, int, int]], encoder_embed_dim: int, share_input_output_embed: bool):
        """``layer_dims``: per built layer, ``(embed_dim, ffn_dim, self_heads, ende_heads)`` capacities."""
        super().__init__(dictionary)
        self.share_input_output_embed = share_input_output_embed
        embed_dim = layer_dims[0][0]
        if not share_input_output_embed:
            self.embed_out = nn.Parameter(torch.empty(len(dictionary), embed_dim))
            nn.init.normal_(self.embed_out, mean=0, std=args.decoder_embed_dim ** -0.5)
        self.register_buffer("version", torch.Tensor([3]))
        self._init_side(args, "decoder", embed_tokens, args.max_target_positions)
        self.layers = nn.ModuleList([
            TransformerDecoderLayerSuper(e, encoder_embed_dim, f, args.qkv_dim, hs, he, args.attention_dropout,
                                         utils.get_activation_fn(args.activation_fn), self.normalize_before)
            for e, f, hs, he in layer_dims])
        final_norm = self.normalize_before and not getattr(args, "no_decoder_final_norm", False)
        self.layer_norm = LayerNormSuper(embed_dim) if final_norm else None
        self._future_mask = torch.empty(0)

    def set_sample_config(self, config: Dict[str, Any]) -> None:
        dec = config["decoder"]
        self._set_side_sample(dec["decoder_embed_dim"], dec["decoder_layer_num"], "decoder")
        self.arbitrary_ende_attn = list(dec["decoder_arbitrary_ende_attn"])
        for i, layer in enumerate(self.layers[: self.sample_layer_num]):
            layer.set_sample_config(dec["decoder_embed_dim"], config["encoder"]["encoder_embed_dim"],
                                    dec["decoder_ffn_embed_dim"][i], dec["decoder_self_attention_heads"][i],
                                    dec["decoder_ende_attention_heads"][i], self.dropout, self.activation_dropout)

    def attended_encoder_states(self, encoder_out: Dict[str, List[Tensor]], arbitrary: int) -> Tuple[Tensor, Optional[Tensor]]:
        """Keys/values of an encoder-decoder attention: the encoder output, time-concatenated with the
        outputs of the ``arbitrary`` second-, third-to-last super encoder layers (as the original's
        ``TransformerDecoder.extract_features``)."""
        extra = ARBITRARY_EXTRA_LAYERS[arbitrary]
        mask = encoder_out["encoder_padding_mask"][0] if encoder_out["encoder_padding_mask"] else None
        if extra == 0:
            return encoder_out["encoder_out"][0], mask
        all_out = encoder_out["encoder_out_all"]
        states = torch.cat([encoder_out["encoder_out"][0]] + [all_out[-2 - k] for k in range(extra)], dim=0)
        return states, None if mask is None else mask.repeat(1, extra + 1)

    def _future(self, x: Tensor) -> Tensor:
        t = x.size(0)
        if self._future_mask.size(0) < t or self._future_mask.device != x.device:
            self._future_mask = torch.triu(torch.full((t, t), float("-inf")), 1).to(x.device)
        return self._future_mask[:t, :t].to(x.dtype)

    def extract_features(self, prev_output_tokens: Tensor, encoder_out: Optional[Dict[str, List[Tensor]]] = None,
                         incremental_state: Optional[IncrementalState] = None, **unused) -> Tuple[Tensor, Dict[str, Any]]:
        if encoder_out is None:
            raise ValueError("the SuperTransformer decoder needs the encoder output")
        incremental = incremental_state is not None
        positions = self.embed_positions(prev_output_tokens, incremental) if self.embed_positions is not None else None
        if incremental:
            prev_output_tokens = prev_output_tokens[:, -1:]
        x = self._embed(prev_output_tokens, "decoder", positions).transpose(0, 1)
        self_attn_mask = None if incremental else self._future(x)

        layers = self.layers[: self.sample_layer_num]
        first_cached = incremental and len(layers) > 0 and layers[0].encoder_attn.has_static_kv_cache(incremental_state)
        keys: Dict[int, Tuple[Optional[Tensor], Optional[Tensor]]] = {}
        attn: Optional[Tensor] = None
        inner_states: List[Tensor] = [x]
        for i, layer in enumerate(layers):
            arbitrary = self.arbitrary_ende_attn[i]
            if arbitrary not in keys:
                keys[arbitrary] = (None, None) if first_cached else self.attended_encoder_states(encoder_out, arbitrary)
            states, mask = keys[arbitrary]
            need_attn = not self.training and i == len(layers) - 1
            x, layer_attn = layer(x, states, mask, incremental_state, self_attn_mask, need_attn)
            inner_states.append(x)
            if layer_attn is not None:
                # Alignment over source positions: sum the weights of the concatenated copies.
                src_len = encoder_out["encoder_out"][0].size(0)
                attn = layer_attn.view(layer_attn.size(0), layer_attn.size(1), -1, src_len).sum(dim=2)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x.transpose(0, 1), {"attn": [attn], "inner_states": inner_states}

    def output_layer(self, features: Tensor) -> Tensor:
        if self.share_input_output_embed:
            return F.linear(features, self.embed_tokens.sampled_weight("decoder"))
        return F.linear(features, leading(self.embed_out, self.embed_out.size(0), self.sample_embed_dim))

    def forward(self, prev_output_tokens: Tensor, encoder_out: Optional[Dict[str, List[Tensor]]] = None,
                incremental_state: Optional[IncrementalState] = None, features_only: bool = False,
                **unused) -> Tuple[Tensor, Dict[str, Any]]:
        x, extra = self.extract_features(prev_output_tokens, encoder_out, incremental_state)
        return (x if features_only else self.output_layer(x)), extra


@register_model("transformersuper")
class TransformerSuperModel(FairseqEncoderDecoderModel):
    """HAT's weight-sharing SuperTransformer."""

    @staticmethod
    def add_args(parser) -> None:
        from ..options import add_model_args
        add_model_args(parser)

    @classmethod
    def build_model(cls, args: Namespace, task) -> "TransformerSuperModel":
        base_architecture(args)
        src_dict, tgt_dict = task.source_dictionary, task.target_dictionary
        return cls.build(args, src_dict, tgt_dict)

    @classmethod
    def build(cls, args: Namespace, src_dict, tgt_dict) -> "TransformerSuperModel":
        """Build from arguments and dictionaries; compact if ``args.compact_subtransformer``."""
        base_architecture(args)
        compact = getattr(args, "compact_subtransformer", False)
        sub = config_from_args(args) if compact else None
        enc_dim = sub["encoder"]["encoder_embed_dim"] if compact else args.encoder_embed_dim
        dec_dim = sub["decoder"]["decoder_embed_dim"] if compact else args.decoder_embed_dim
        if args.share_all_embeddings:
            if src_dict != tgt_dict:
                raise ConfigError("--share-all-embeddings requires a joined dictionary")
            if args.encoder_embed_dim != args.decoder_embed_dim:
                raise ConfigError("--share-all-embeddings requires --encoder-embed-dim to match --decoder-embed-dim")
            encoder_embed = decoder_embed = EmbeddingSuper(len(src_dict), max(enc_dim, dec_dim), src_dict.pad())
            args.share_decoder_input_output_embed = True
        else:
            encoder_embed = EmbeddingSuper(len(src_dict), enc_dim, src_dict.pad())
            decoder_embed = EmbeddingSuper(len(tgt_dict), dec_dim, tgt_dict.pad())
        if compact:
            e, d = sub["encoder"], sub["decoder"]
            enc_layers = [(enc_dim, e["encoder_ffn_embed_dim"][i], e["encoder_self_attention_heads"][i])
                          for i in range(e["encoder_layer_num"])]
            dec_layers = [(dec_dim, d["decoder_ffn_embed_dim"][i], d["decoder_self_attention_heads"][i],
                           d["decoder_ende_attention_heads"][i]) for i in range(d["decoder_layer_num"])]
        else:
            enc_layers = [(enc_dim, args.encoder_ffn_embed_dim, args.encoder_attention_heads)] * args.encoder_layers
            dec_layers = [(dec_dim, args.decoder_ffn_embed_dim, args.decoder_attention_heads,
                           args.decoder_attention_heads)] * args.decoder_layers
        encoder = TransformerEncoderSuper(args, src_dict, encoder_embed, enc_layers)
        decoder = TransformerDecoderSuper(args, tgt_dict, decoder_embed, dec_layers, enc_dim,
                                          args.share_decoder_input_output_embed)
        model = cls(encoder, decoder)
        model.args = args
        model.set_sample_config(sub if compact else largest_capacity_config(args))
        return model

    def set_sample_config(self, config: Dict[str, Any]) -> None:
        """Select the SubTransformer ``config`` (the original's nested dict) for the next forwards."""
        config = check_fits_model(config, self)
        self.sample_config = config
        self.encoder.set_sample_config(config)
        self.decoder.set_sample_config(config)

    def max_positions(self):
        return self.encoder.max_positions(), self.decoder.max_positions()

    def set_beam_size(self, beam_size: int) -> None:
        """Called by fairseq's beam search on the model (not the decoder): lets the encoder-decoder
        attentions skip reordering keys/values among a sentence's beams."""
        self.decoder.set_beam_size(beam_size)


def largest_capacity_config(args: Namespace) -> Dict[str, Any]:
    """The SubTransformer that uses every weight of a (non-compact) SuperTransformer."""
    n_e, n_d = args.encoder_layers, args.decoder_layers
    return {
        "encoder": {"encoder_embed_dim": args.encoder_embed_dim, "encoder_layer_num": n_e,
                    "encoder_ffn_embed_dim": [args.encoder_ffn_embed_dim] * n_e,
                    "encoder_self_attention_heads": [args.encoder_attention_heads] * n_e},
        "decoder": {"decoder_embed_dim": args.decoder_embed_dim, "decoder_layer_num": n_d,
                    "decoder_ffn_embed_dim": [args.decoder_ffn_embed_dim] * n_d,
                    "decoder_self_attention_heads": [args.decoder_attention_heads] * n_d,
                    "decoder_ende_attention_heads": [args.decoder_attention_heads] * n_d,
                    "decoder_arbitrary_ende_attn": [-1] * n_d},
    }


def _default(args: Namespace, name: str, value: Any) -> None:
    if getattr(args, name, None) is None:
        setattr(args, name, value)


@register_model_architecture("transformersuper", "transformersuper")
def base_architecture(args: Namespace) -> None:
    _default(args, "encoder_embed_dim", 512)
    _default(args, "encoder_ffn_embed_dim", 2048)
    _default(args, "encoder_layers", 6)
    _default(args, "encoder_attention_heads", 8)
    _default(args, "encoder_normalize_before", False)
    _default(args, "encoder_learned_pos", False)
    _default(args, "decoder_embed_dim", args.encoder_embed_dim)
    _default(args, "decoder_ffn_embed_dim", args.encoder_ffn_embed_dim)
    _default(args, "decoder_layers", 6)
    _default(args, "decoder_attention_heads", 8)
    _default(args, "decoder_normalize_before", False)
    _default(args, "decoder_learned_pos", False)
    _default(args, "attention_dropout", 0.0)
    _default(args, "activation_dropout", 0.0)
    _default(args, "activation_fn", "relu")
    _default(args, "dropout", 0.1)
    _default(args, "adaptive_softmax_cutoff", None)
    _default(args, "share_decoder_input_output_embed", False)
    _default(args, "share_all_embeddings", False)
    _default(args, "no_token_positional_embeddings", False)
    _default(args, "no_decoder_final_norm", False)
    _default(args, "vocab_original_scaling", False)
    _default(args, "max_source_positions", DEFAULT_MAX_POSITIONS)
    _default(args, "max_target_positions", DEFAULT_MAX_POSITIONS)
    _default(args, "qkv_dim", args.encoder_embed_dim)
    if args.adaptive_softmax_cutoff:
        raise ConfigError("--adaptive-softmax-cutoff is not supported by the SuperTransformer")
    args.decoder_output_dim = args.decoder_input_dim = args.decoder_embed_dim


def _arch(name: str, **defaults: Any):
    def arch(args: Namespace) -> None:
        for key, value in defaults.items():
            _default(args, key, value)
        base_architecture(args)
    arch.__name__ = name
    return register_model_architecture("transformersuper", name)(arch)


_BIG = dict(encoder_embed_dim=1024, encoder_ffn_embed_dim=4096, encoder_attention_heads=16,
            decoder_embed_dim=1024, decoder_ffn_embed_dim=4096, decoder_attention_heads=16)
transformersuper_iwslt_de_en = _arch("transformersuper_iwslt_de_en", encoder_embed_dim=512, encoder_ffn_embed_dim=1024,
                                     encoder_attention_heads=4, decoder_embed_dim=512, decoder_ffn_embed_dim=1024,
                                     decoder_attention_heads=4)
transformersuper_wmt_en_de = _arch("transformersuper_wmt_en_de")
transformersuper_wmt_en_fr = _arch("transformersuper_wmt_en_fr")
transformersuper_vaswani_wmt_en_de_big = _arch("transformersuper_vaswani_wmt_en_de_big", dropout=0.3, **_BIG)
transformersuper_vaswani_wmt_en_fr_big = _arch("transformersuper_vaswani_wmt_en_fr_big", dropout=0.1, **_BIG)
transformersuper_wmt_en_de_big = _arch("transformersuper_wmt_en_de_big", dropout=0.3, attention_dropout=0.1, **_BIG)
transformersuper_wmt_en_de_big_t2t = _arch("transformersuper_wmt_en_de_big_t2t", dropout=0.3, attention_dropout=0.1,
                                           activation_dropout=0.1, encoder_normalize_before=True,
                                           decoder_normalize_before=True, **_BIG)
transformersuper_multi30k = _arch("transformersuper_multi30k", encoder_embed_dim=256, encoder_ffn_embed_dim=512,
                                  encoder_attention_heads=4, decoder_embed_dim=256, decoder_ffn_embed_dim=512,
                                  decoder_attention_heads=4)
