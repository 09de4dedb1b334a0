"""Inference engines a SubTransformer's latency can be measured on (``--lat-backend``).

``torch``: PyTorch eager, the original's. ``onnxruntime`` / ``onnxruntime-int8``: the SubTransformer exported
to ONNX (:mod:`hat.export.onnx`; int8: ONNX Runtime's dynamic quantization) and run by ONNX Runtime through
:class:`hat.runtime.onnxruntime_model.OnnxRuntimeSubTransformer`, so :mod:`hat.latency.measure` times it
with the same protocol (dummy sentence, beam copies, encoder + L decoder steps, warm-ups).
"""
from __future__ import annotations

import json
import tempfile
from collections import OrderedDict
from typing import Any, Dict, Optional

import torch

from ..models.transformer_super import TransformerSuperModel

BACKENDS = ("torch", "onnxruntime", "onnxruntime-int8")
INT8 = BACKENDS[2]
"""The backend that runs the int8 graphs."""
CACHED_MODELS = 16
"""Exported models kept per SuperTransformer: the rounds of an interleaved comparison and a row's re-measurements
reuse the export (a few seconds) instead of repeating it."""


def effective_threads(threads: Optional[int]) -> int:
    """The CPU thread count a measurement runs with: ``--lat-threads``, else PyTorch's count (ONNX Runtime is
    given it explicitly, so that the recorded count is the one in effect on every backend)."""
    return threads if threads is not None else torch.get_num_threads()


def onnxruntime_model(model: TransformerSuperModel, config: Dict[str, Any], backend: str, threads: Optional[int]):
    """SubTransformer ``config`` of the SuperTransformer ``model`` on ONNX Runtime (``backend`` 'onnxruntime' or
    'onnxruntime-int8'), cached on ``model`` (latency does not depend on the weights' values)."""
    from ..export.onnx import export_onnx
    from ..runtime.onnxruntime_model import OnnxRuntimeSubTransformer
    from ..subtransformer import extract_subtransformer

    cache = model.__dict__.setdefault("_onnxruntime_models", OrderedDict())
    key = (json.dumps(config, sort_keys=True), backend, threads)
    if key not in cache:
        int8 = backend == INT8
        compact = extract_subtransformer(model, config).eval()
        with tempfile.TemporaryDirectory(prefix="hat-onnx-") as folder:  # sessions hold the graphs in memory
            export_onnx(compact, folder, int8=int8)
            cache[key] = OnnxRuntimeSubTransformer.load(folder, compact.encoder.dictionary, compact.decoder.dictionary,
                                                        int8, effective_threads(threads))
        while len(cache) > CACHED_MODELS:
            cache.popitem(last=False)
    cache.move_to_end(key)
    return cache[key]


def backend_versions(backend: str) -> Dict[str, str]:
    """The engine's version, recorded with the measurement settings."""
    from ..export.onnx import require

    return {} if backend == "torch" else {"onnxruntime_version": require("onnxruntime").__version__}
