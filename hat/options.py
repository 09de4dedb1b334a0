"""Command-line flags of the SuperTransformer model (the original's ``TransformerSuperModel.add_args`` in
``fairseq/models/transformer_super.py``), in one place."""
from fairseq import utils

from .search_space import choice_flag_defaults


def add_model_args(parser) -> None:
    """Add the ``transformersuper`` flags: fairseq transformer ones, search space, SubTransformer."""
    p = parser.add_argument
    p("--activation-fn", choices=utils.get_available_activation_fns(), help="activation function")
    p("--dropout", type=float, metavar="D", help="dropout probability (scaled by E/Ê for SubTransformers)")
    p("--attention-dropout", type=float, metavar="D", help="dropout on attention weights")
    p("--activation-dropout", "--relu-dropout", type=float, metavar="D", help="dropout after the FFN activation")
    for side in ("encoder", "decoder"):
        p(f"--{side}-embed-path", type=str, metavar="STR", help="pretrained embedding path (unsupported)")
        p(f"--{side}-embed-dim", type=int, metavar="N", help=f"super {side} embedding dim Ê")
        p(f"--{side}-ffn-embed-dim", type=int, metavar="N", help=f"super {side} FFN dim")
        p(f"--{side}-layers", type=int, metavar="N", help=f"super number of {side} layers")
        p(f"--{side}-attention-heads", type=int, metavar="N", help=f"super {side} attention heads")
        p(f"--{side}-normalize-before", action="store_true", help="pre-LayerNorm")
        p(f"--{side}-learned-pos", action="store_true", help="learned positions (unsupported)")
    p("--share-decoder-input-output-embed", action="store_true", help="share decoder input and output embeddings")
    p("--share-all-embeddings", action="store_true", help="share encoder, decoder and output embeddings")
    p("--no-token-positional-embeddings", action="store_true", help="no positional embeddings")
    p("--adaptive-softmax-cutoff", metavar="EXPR", help="unsupported")
    p("--adaptive-softmax-dropout", type=float, metavar="D", help="unsupported")
    p("--get-attn", action="store_true", default=False, help="(original flag, accepted for compatibility)")
    p("--no-decoder-final-norm", action="store_true", help="no final LayerNorm in a pre-LN decoder")

    # SuperTransformer search space: flag names and defaults (the original's) from the schema in search_space.
    int_list = dict(nargs="+", type=int)
    for flag, default in choice_flag_defaults().items():
        p(flag, default=default, **int_list)
    p("--qkv-dim", type=int, default=None, help="Q/K/V projection width q (default: the super embed dim)")
    p("--vocab-original-scaling", action="store_true", default=False,
      help="scale embeddings by sqrt(super dim) instead of sqrt(sampled dim)")

    # One SubTransformer (what the *.yml architecture files set).
    for side in ("encoder", "decoder"):
        p(f"--{side}-embed-dim-subtransformer", type=int, default=None)
        p(f"--{side}-ffn-embed-dim-all-subtransformer", default=None, **int_list)
        p(f"--{side}-layer-num-subtransformer", type=int)
    p("--encoder-self-attention-heads-all-subtransformer", default=None, **int_list)
    p("--decoder-self-attention-heads-all-subtransformer", default=None, **int_list)
    p("--decoder-ende-attention-heads-all-subtransformer", default=None, **int_list)
    p("--decoder-arbitrary-ende-attn-all-subtransformer", default=None, **int_list)
    p("--compact-subtransformer", action="store_true", default=False,
      help="build only the SubTransformer given by the *-subtransformer flags, at its own dims (exported models)")
