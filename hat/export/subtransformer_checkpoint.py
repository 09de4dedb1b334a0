"""Export a SubTransformer alone, weights physically sliced: a checkpoint of the compact model, or ONNX graphs."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from ..checkpoint import save_model_checkpoint
from ..errors import ConfigError
from ..loading import load_supertransformer
from ..search_space import check_fits_model, check_trained_space, read_subtransformer_yaml
from ..subtransformer import extract_subtransformer


FORMATS = ("checkpoint", "onnx")


def export_subtransformer(restore_file: str | Path, configs: str | Path, out: str | Path,
                          data_dir: Optional[str | Path] = None, allow_off_space: bool = False,
                          format: str = "checkpoint", int8: bool = False) -> dict[str, Any]:
    """Write the SubTransformer ``configs`` (YAML) of the checkpoint ``restore_file`` alone: as a standalone
    checkpoint ``out`` that ``generate.py`` and ``fairseq-generate --user-dir hat`` load (``format='checkpoint'``),
    or as ONNX graphs in the folder ``out`` that ``generate.py --onnx`` runs (``format='onnx'``, with ``int8``
    graphs too if asked; :mod:`hat.export.onnx`). Returns file sizes and #params.

    The config must fit the model and, for a SuperTransformer checkpoint, be in the search space it was trained with
    (its saved ``*-choice`` lists) unless ``allow_off_space``."""
    if format not in FORMATS:
        raise ConfigError(f"unknown export format {format!r}: choose {' or '.join(FORMATS)}")
    if int8 and format != "onnx":
        raise ConfigError("int8 graphs are an ONNX export: add --format onnx")
    config = read_subtransformer_yaml(configs)  # a bad YAML fails before the checkpoint is read
    model = load_supertransformer(restore_file, data_dir)
    config = check_fits_model(config, model)
    check_trained_space(config, model.args, str(configs), allow_off_space)
    compact = extract_subtransformer(model, config)
    if format == "onnx":
        from .onnx import export_onnx

        sizes = export_onnx(compact, out, int8, extra={"restore_file": str(restore_file), "configs": str(configs)})
        out_bytes = sizes["sizes_bytes"]["encoder"] + sizes["sizes_bytes"]["decoder_step"]
        int8_bytes = {"out_int8_bytes": sizes["sizes_bytes"]["encoder_int8"] + sizes["sizes_bytes"]["decoder_step_int8"]} \
            if int8 else {}
    else:
        save_model_checkpoint(compact, compact.args, out)
        out_bytes, int8_bytes = os.path.getsize(out), {}
    return {"restore_file": str(restore_file), "restore_file_bytes": os.path.getsize(restore_file),
            "out": str(out), "out_bytes": out_bytes, **int8_bytes, "format": format,
            "supertransformer_params": sum(p.numel() for p in model.parameters()),
            "subtransformer_params": sum(p.numel() for p in compact.parameters())}
