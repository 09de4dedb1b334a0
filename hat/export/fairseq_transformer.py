"""Export a SubTransformer to fairseq's stock ``transformer`` when that model can express it.

Possible when every layer of a side has the same FFN dim and heads, the decoder's self and
encoder-decoder heads agree, the embed dims equal ``qkv_dim`` and every decoder layer attends the last
encoder layer only. The positional table is HAT's (the super-dim sinusoid sliced to E).
"""
from argparse import Namespace
from typing import Any, Dict, Tuple

import torch
from fairseq.models.transformer import TransformerModel
from fairseq.models.transformer import base_architecture as fairseq_base_architecture

from ..models.transformer_super import TransformerSuperModel
from ..search_space import ConfigError, active_config


def _uniform(values, name: str) -> int:
    if len(set(values)) != 1:
        raise ConfigError(f"fairseq's transformer needs one {name} for all layers, got {values}")
    return values[0]


def fairseq_transformer_dims(config: Dict[str, Any], qkv_dim: int) -> Dict[str, int]:
    """The fairseq ``transformer`` arguments of ``config``; ConfigError if it cannot express it."""
    c = active_config(config)
    enc, dec = c["encoder"], c["decoder"]
    for part, e in (("encoder", enc["encoder_embed_dim"]), ("decoder", dec["decoder_embed_dim"])):
        if e != qkv_dim:
            raise ConfigError(f"fairseq's transformer needs {part}_embed_dim == qkv_dim ({e} != {qkv_dim})")
    if any(a != -1 for a in dec["decoder_arbitrary_ende_attn"]):
        raise ConfigError("fairseq's transformer cannot attend several encoder layers (arbitrary attention)")
    dec_heads = _uniform(dec["decoder_self_attention_heads"] + dec["decoder_ende_attention_heads"], "decoder heads")
    return dict(encoder_embed_dim=enc["encoder_embed_dim"], decoder_embed_dim=dec["decoder_embed_dim"],
                encoder_ffn_embed_dim=_uniform(enc["encoder_ffn_embed_dim"], "encoder FFN dim"),
                decoder_ffn_embed_dim=_uniform(dec["decoder_ffn_embed_dim"], "decoder FFN dim"),
                encoder_layers=enc["encoder_layer_num"], decoder_layers=dec["decoder_layer_num"],
                encoder_attention_heads=_uniform(enc["encoder_self_attention_heads"], "encoder heads"),
                decoder_attention_heads=dec_heads)


def _attention_weights(state: Dict[str, torch.Tensor], prefix: str, q: int) -> Dict[str, torch.Tensor]:
    """fairseq's separate q/k/v projections from a compact model's attention tensors."""
    out = {}
    if f"{prefix}.in_proj_weight" in state:
        w = state[f"{prefix}.in_proj_weight"]
        weights = (w[:q], w[q:2 * q], w[2 * q:])
    else:
        weights = tuple(state[f"{prefix}.{n}_proj_weight"] for n in "qkv")
    bias = state[f"{prefix}.in_proj_bias"]
    for j, name in enumerate(("q_proj", "k_proj", "v_proj")):
        out[f"{prefix}.{name}.weight"] = weights[j]
        out[f"{prefix}.{name}.bias"] = bias[j * q:(j + 1) * q]
    return out


def to_fairseq_transformer(model: TransformerSuperModel, config: Dict[str, Any]) -> Tuple[TransformerModel, Namespace]:
    """A stock fairseq ``transformer`` computing the SubTransformer ``config`` of ``model`` (eval mode)."""
    from ..subtransformer import extract_subtransformer

    dims = fairseq_transformer_dims(config, model.args.qkv_dim)
    compact = extract_subtransformer(model, config)
    args = Namespace(**dims, share_all_embeddings=model.args.share_all_embeddings,
                     share_decoder_input_output_embed=model.args.share_decoder_input_output_embed,
                     encoder_normalize_before=getattr(model.args, "encoder_normalize_before", False),
                     decoder_normalize_before=getattr(model.args, "decoder_normalize_before", False),
                     no_decoder_final_norm=getattr(model.args, "no_decoder_final_norm", False),
                     dropout=model.args.dropout, max_source_positions=model.args.max_source_positions,
                     max_target_positions=model.args.max_target_positions)
    fairseq_base_architecture(args)
    task = Namespace(source_dictionary=model.encoder.dictionary, target_dictionary=model.decoder.dictionary)
    ref = TransformerModel.build_model(args, task)
    state = compact.state_dict()
    new_state = {k: v for k, v in state.items()
                 if not any(s in k for s in ("self_attn.in_proj", "encoder_attn.in_proj", "_proj_weight", "version",
                                             "embed_positions", "embed_out"))}
    q = model.args.qkv_dim
    for key in state:
        if key.endswith("in_proj_bias"):
            new_state.update(_attention_weights(state, key[: -len(".in_proj_bias")], q))
    new_state["decoder.output_projection.weight"] = (
        state["decoder.embed_tokens.weight"] if args.share_decoder_input_output_embed else state["decoder.embed_out"])
    # fairseq's own version markers: without them its state-dict upgrade drops the final LayerNorms (pre-LN)
    new_state.update({k: v for k, v in ref.state_dict().items() if k.endswith(".version")})
    missing, unexpected = ref.load_state_dict(new_state, strict=False)
    missing = [k for k in missing if "embed_positions" not in k]
    if missing or unexpected:
        raise RuntimeError(f"export to fairseq transformer: missing {missing}, unexpected {unexpected}")
    for side in ("encoder", "decoder"):
        table = getattr(compact, side).embed_positions.weights[:, : dims[f"{side}_embed_dim"]]
        getattr(ref, side).embed_positions.weights = table.clone()
    return ref.eval(), args
