"""Export a SubTransformer alone: a checkpoint of the compact model, weights physically sliced."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

from ..checkpoint import save_model_checkpoint
from ..loading import load_supertransformer
from ..search_space import check_fits_model, check_trained_space, read_subtransformer_yaml
from ..subtransformer import extract_subtransformer


def export_subtransformer(restore_file: str | Path, configs: str | Path, out: str | Path,
                          data_dir: Optional[str | Path] = None, allow_off_space: bool = False) -> dict[str, Any]:
    """Write the SubTransformer ``configs`` (YAML) of the checkpoint ``restore_file`` as a standalone checkpoint
    ``out`` that ``generate.py`` and ``fairseq-generate --user-dir hat`` load; returns file sizes and #params.

    The config must fit the model and, for a SuperTransformer checkpoint, be in the search space it was trained with
    (its saved ``*-choice`` lists) unless ``allow_off_space``."""
    config = read_subtransformer_yaml(configs)  # a bad YAML fails before the checkpoint is read
    model = load_supertransformer(restore_file, data_dir)
    config = check_fits_model(config, model)
    check_trained_space(config, model.args, str(configs), allow_off_space)
    compact = extract_subtransformer(model, config)
    save_model_checkpoint(compact, compact.args, out)
    return {"restore_file": str(restore_file), "restore_file_bytes": os.path.getsize(restore_file),
            "out": str(out), "out_bytes": os.path.getsize(out),
            "supertransformer_params": sum(p.numel() for p in model.parameters()),
            "subtransformer_params": sum(p.numel() for p in compact.parameters())}
