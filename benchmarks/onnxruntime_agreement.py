#!/usr/bin/env python
"""Do SubTransformers translate the same on ONNX Runtime as on PyTorch? Hypotheses and BLEU on a real test set.

For each SubTransformer YAML (inherited from ``--restore-file``, a SuperTransformer or SubTransformer checkpoint):
export it with int8 graphs (``scripts/export_subtransformer.py --format onnx --int8``), translate the test set
with the task's beam on PyTorch, ONNX Runtime float32 and ONNX Runtime int8 (``test.sh``), and report the share of
hypotheses identical to PyTorch's and the three BLEU scores (tokenized, as the paper). ``--json`` prints one
object. Outputs go to ``--workdir``.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hat  # noqa: E402,F401
from hat.evaluation.bleu import read_generation  # noqa: E402
from hat.evaluation.testing import test_bleu  # noqa: E402
from hat.export.subtransformer_checkpoint import export_subtransformer  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--restore-file", required=True, help="SuperTransformer checkpoint")
    parser.add_argument("--configs", nargs="+", required=True, help="SubTransformer YAMLs")
    parser.add_argument("--data", required=True, help="binarised data folder")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--subset", default="test")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--lenpen", type=float, default=1.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print

    rows = []
    for yml in map(Path, args.configs):
        folder = Path(args.workdir) / yml.stem
        export = export_subtransformer(args.restore_file, yml, folder / "onnx", format="onnx", int8=True)
        scores, hypotheses, walls = {}, {}, {}
        for backend, model, int8 in (("torch", args.restore_file, False), ("onnxruntime", folder / "onnx", False),
                                     ("onnxruntime-int8", folder / "onnx", True)):
            started = time.perf_counter()
            result = test_bleu(model, yml, args.data, "normal", args.subset, args.beam, args.lenpen, int8=int8)
            walls[backend] = round(time.perf_counter() - started, 1)
            scores[backend] = result["score"]
            hypotheses[backend] = read_generation(result["output"])[0]
        same = {b: sum(a == h for a, h in zip(hypotheses["torch"], hypotheses[b])) / len(hypotheses["torch"])
                for b in ("onnxruntime", "onnxruntime-int8")}
        rows.append({"name": yml.stem, "sentences": len(hypotheses["torch"]),
                     **{f"bleu_{b}": s for b, s in scores.items()},
                     **{f"identical_{b}": v for b, v in same.items()},
                     **{f"generate_s_{b}": w for b, w in walls.items()},
                     "onnx_bytes": export["out_bytes"], "onnx_int8_bytes": export["out_int8_bytes"], "subtransformer_params": export["subtransformer_params"]})
        log(f"| {yml.stem}: BLEU torch {scores['torch']:.2f}, onnxruntime {scores['onnxruntime']:.2f} "
            f"({same['onnxruntime']:.1%} identical), int8 {scores['onnxruntime-int8']:.2f} "
            f"({same['onnxruntime-int8']:.1%} identical)")
    if args.json:
        print(json.dumps({"rows": rows, "subset": args.subset, "beam": args.beam}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
