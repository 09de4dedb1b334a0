"""``load_supertransformer``: build a SuperTransformer from a HAT or project checkpoint."""
import os
from argparse import Namespace
from pathlib import Path
from typing import Any, Dict, Optional, Tuple

import torch
from fairseq.data import Dictionary, data_utils

from .checkpoint import CheckpointError, checkpoint_args, load_trusted
from .errors import DataError
from .io import PathLike
from .models.transformer_super import TransformerSuperModel


def _dictionary_paths(args: Namespace, data_dir: Path) -> Tuple[Path, Path]:
    src, tgt = getattr(args, "source_lang", None), getattr(args, "target_lang", None)
    if src is None or tgt is None:
        found = sorted(data_dir.glob("dict.*.txt"))
        if len(found) != 2:
            raise CheckpointError(f"cannot tell the source/target dictionaries in {data_dir}: "
                                  f"the checkpoint names no languages and {len(found)} dict.*.txt files exist")
        return found[0], found[1]
    return data_dir / f"dict.{src}.txt", data_dir / f"dict.{tgt}.txt"


def _load_dictionaries(args: Namespace, data_dir: Optional[PathLike]) -> Tuple[Dictionary, Dictionary, Path, Path]:
    """:func:`load_dictionaries`, plus the two files read."""
    candidates = [Path(data_dir)] if data_dir is not None else []
    if data_dir is None and getattr(args, "data", None):
        candidates = [Path(p) for p in str(args.data).split(os.pathsep)]
    if not candidates:
        raise CheckpointError("no dictionaries: pass data_dir (a folder with fairseq dict.<lang>.txt files)")
    src_path, tgt_path = _dictionary_paths(args, candidates[0])
    for path in (src_path, tgt_path):
        if not path.is_file():
            raise CheckpointError(f"dictionary not found: {path} (pass data_dir=<folder with dict.<lang>.txt>)")
    src_dict = _read_dictionary(src_path)
    tgt_dict = src_dict if src_path == tgt_path else _read_dictionary(tgt_path)
    if getattr(args, "share_all_embeddings", False) and src_path != tgt_path:
        if src_dict.symbols != tgt_dict.symbols:
            raise CheckpointError("the checkpoint shares embeddings but the source and target dictionaries differ")
        tgt_dict = src_dict
    return src_dict, tgt_dict, src_path, tgt_path


def load_dictionaries(args: Namespace, data_dir: Optional[PathLike]) -> Tuple[Dictionary, Dictionary]:
    """Source and target fairseq dictionaries from ``data_dir`` or the checkpoint's own data path."""
    return _load_dictionaries(args, data_dir)[:2]


def _read_dictionary(path: Path) -> Dictionary:
    try:
        return Dictionary.load(str(path))
    except (ValueError, RuntimeError, UnicodeDecodeError) as exc:  # a malformed line, a duplicate word
        raise DataError(f"{path} is not a fairseq dictionary ({' '.join(str(exc).split())})") from None


def _embedding_rows(state: Dict[str, Any], side: str) -> Optional[int]:
    weight = state["model"].get(f"{side}.embed_tokens.weight")
    return int(weight.shape[0]) if isinstance(weight, torch.Tensor) and weight.dim() == 2 else None


def check_vocabulary(state: Dict[str, Any], checkpoint_path: PathLike, src_path: Path, tgt_path: Path,
                     src_size: int, tgt_size: int) -> None:
    """Raise a CheckpointError unless the embedding matrices of the checkpoint ``state`` have one row per word of the
    dictionaries ``src_path`` / ``tgt_path`` (of ``src_size`` / ``tgt_size`` words): a checkpoint trained on other
    data (a size mismatch deep inside ``load_state_dict`` otherwise)."""
    rows = (_embedding_rows(state, "encoder"), _embedding_rows(state, "decoder"))
    if None in rows or rows == (src_size, tgt_size):
        return
    folder = src_path.parent
    files = src_path.name if src_path == tgt_path else f"{src_path.name} / {tgt_path.name}"
    if rows[0] == rows[1] and src_size == tgt_size:
        trained, has = f"a {rows[0]}-word dictionary", f"{src_size} words"
    else:
        trained = f"{rows[0]}-word source and {rows[1]}-word target dictionaries"
        has = f"{src_size} and {tgt_size} words"
    raise CheckpointError(f"checkpoint {checkpoint_path} was trained with {trained}, the data folder {folder} has "
                          f"{has} ({files}): use the data it was trained on")


def check_checkpoint_for_data(checkpoint_path: PathLike, data: Optional[str], source_lang: Optional[str] = None,
                              target_lang: Optional[str] = None) -> None:
    """Check a checkpoint before fairseq loads it for the binarised ``data`` (``generate.py --path``): missing,
    truncated or foreign files (:func:`hat.checkpoint.load_trusted`) and a vocabulary other than the data's
    (:func:`check_vocabulary`), each one CheckpointError. A missing data folder or dictionary is left to the task,
    which names it."""
    state = load_trusted(checkpoint_path)
    checkpoint_args(state, checkpoint_path)
    folder = Path(str(data).split(os.pathsep)[0]) if data else None
    if folder is None or not folder.is_dir():
        return
    if source_lang is None or target_lang is None:
        source_lang, target_lang = data_utils.infer_language_pair(str(folder))
        if source_lang is None or target_lang is None:
            return
    src_path, tgt_path = folder / f"dict.{source_lang}.txt", folder / f"dict.{target_lang}.txt"
    if not (src_path.is_file() and tgt_path.is_file()):
        return
    src_size = len(_read_dictionary(src_path))
    tgt_size = src_size if src_path == tgt_path else len(_read_dictionary(tgt_path))
    check_vocabulary(state, checkpoint_path, src_path, tgt_path, src_size, tgt_size)


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
    src_dict, tgt_dict, src_path, tgt_path = _load_dictionaries(args, data_dir)
    check_vocabulary(state, checkpoint_path, src_path, tgt_path, len(src_dict), len(tgt_dict))
    model = TransformerSuperModel.build(args, src_dict, tgt_dict)
    weights = {k.replace("branchs", "branches"): v.float() if v.is_floating_point() else v
               for k, v in state["model"].items()}
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as exc:  # one line: torch's message lists every key on a line of its own
        raise CheckpointError(f"{checkpoint_path} does not match its own architecture arguments: "
                              f"{' '.join(str(exc).split())}") from None
    return model.eval()
