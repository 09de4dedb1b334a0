"""``load_supertransformer``: build a SuperTransformer from a HAT or project checkpoint."""
import os
from argparse import Namespace
from pathlib import Path
from typing import Optional, Tuple, Union

from fairseq.data import Dictionary

from .checkpoint import CheckpointError, checkpoint_args, load_trusted
from .models.transformer_super import TransformerSuperModel

PathLike = Union[str, os.PathLike]


def _dictionary_paths(args: Namespace, data_dir: Path) -> Tuple[Path, Path]:
    src, tgt = getattr(args, "source_lang", None), getattr(args, "target_lang", None)
    if src is None or tgt is None:
        found = sorted(data_dir.glob("dict.*.txt"))
        if len(found) != 2:
            raise CheckpointError(f"cannot tell the source/target dictionaries in {data_dir}: "
                                  f"the checkpoint names no languages and {len(found)} dict.*.txt files exist")
        return found[0], found[1]
    return data_dir / f"dict.{src}.txt", data_dir / f"dict.{tgt}.txt"


def load_dictionaries(args: Namespace, data_dir: Optional[PathLike]) -> Tuple[Dictionary, Dictionary]:
    """Source and target fairseq dictionaries from ``data_dir`` or the checkpoint's own data path."""
    candidates = [Path(data_dir)] if data_dir is not None else []
    if data_dir is None and getattr(args, "data", None):
        candidates = [Path(p) for p in str(args.data).split(os.pathsep)]
    if not candidates:
        raise CheckpointError("no dictionaries: pass data_dir (a folder with fairseq dict.<lang>.txt files)")
    src_path, tgt_path = _dictionary_paths(args, candidates[0])
    for path in (src_path, tgt_path):
        if not path.is_file():
            raise CheckpointError(f"dictionary not found: {path} (pass data_dir=<folder with dict.<lang>.txt>)")
    src_dict = Dictionary.load(str(src_path))
    tgt_dict = src_dict if src_path == tgt_path else Dictionary.load(str(tgt_path))
    if getattr(args, "share_all_embeddings", False) and src_path != tgt_path:
        if src_dict.symbols != tgt_dict.symbols:
            raise CheckpointError("the checkpoint shares embeddings but the source and target dictionaries differ")
        tgt_dict = src_dict
    return src_dict, tgt_dict


def load_supertransformer(checkpoint_path: PathLike, data_dir: Optional[PathLike] = None) -> TransformerSuperModel:
    """Load a SuperTransformer (or SubTransformer) checkpoint in eval mode, weights in float32.

    Works for checkpoints written by this project and for the released HAT checkpoints (fairseq 0.8
    format, original key names). Unlike the original, loading is strict: a missing or unexpected
    weight is an error, not silently ignored.
    """
    state = load_trusted(checkpoint_path)
    args = checkpoint_args(state, checkpoint_path)
    arch = getattr(args, "arch", None) or ""
    if not str(arch).startswith("transformersuper"):
        raise CheckpointError(f"{checkpoint_path} holds a '{arch}' model, not a SuperTransformer (transformersuper*)")
    src_dict, tgt_dict = load_dictionaries(args, data_dir)
    model = TransformerSuperModel.build(args, src_dict, tgt_dict)
    weights = {k.replace("branchs", "branches"): v.float() if v.is_floating_point() else v
               for k, v in state["model"].items()}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{checkpoint_path} does not match its own architecture arguments: {exc}") from None
    return model.eval()
