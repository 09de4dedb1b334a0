"""``configs/<task>/test.sh``: BLEU of a SubTransformer on a test set, as the original's test.sh (reference 9.2).

``test.sh <checkpoint> <sub.yml> [normal|sacre] [gpu] [subset]`` generates with the task's beam and
length penalty (``--remove-bpe``, batch 128) into ``<checkpoint dir>/exp/<sub.yml name>_<subset>_gen.out``
and scores it: ``normal`` = tokenized BLEU with compound splitting, ``sacre`` = SacreBLEU of the
detokenized text (both in Python: no perl, no hidden pipeline failures). Works on a CPU.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from ..checkpoint import CheckpointError
from ..evaluation.bleu import paper_bleu, read_generation
from ..search_space import read_subtransformer_yaml
from .generate import generate, parse_args as parse_generate_args


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("checkpoint", help="SubTransformer or SuperTransformer checkpoint")
    parser.add_argument("configs", help="SubTransformer YAML")
    parser.add_argument("mode", nargs="?", default="normal", choices=("normal", "sacre"), help="BLEU kind (normal)")
    parser.add_argument("gpu", nargs="?", default="0", help="CUDA device id (ignored without CUDA)")
    parser.add_argument("subset", nargs="?", default="test", help="data split (test)")
    parser.add_argument("--data", required=True, help="binarised data folder")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--lenpen", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--json", action="store_true", help="print the score as one JSON object")
    return parser


def output_path(checkpoint: str, configs: str, subset: str) -> Path:
    """The original's ``<checkpoint dir>/exp/<yml name>_<subset>_gen.out``."""
    return Path(checkpoint).parent / "exp" / f"{Path(configs).name}_{subset}_gen.out"


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if not Path(args.checkpoint).is_file():
        raise CheckpointError(f"checkpoint not found: {args.checkpoint}")
    read_subtransformer_yaml(args.configs)  # fail now on a bad YAML, not after loading the model
    os.environ.setdefault("CUDA_VISIBLE_DEVICES", args.gpu)
    out = output_path(args.checkpoint, args.configs, args.subset)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".generate.") as tmp:
        generate(parse_generate_args([
            args.data, "--path", args.checkpoint, f"--configs={args.configs}", "--gen-subset", args.subset,
            "--beam", str(args.beam), "--lenpen", str(args.lenpen), "--batch-size", str(args.batch_size),
            "--remove-bpe", "--results-path", tmp]))
        shutil.move(str(Path(tmp) / f"generate-{args.subset}.txt"), out)
    hypotheses, references = read_generation(out)
    score = paper_bleu(hypotheses, references, args.mode)
    result = {"mode": args.mode, "subset": args.subset, "sentences": len(hypotheses), "output": str(out),
              **score.to_json()}
    print(json.dumps(result) if args.json else
          f"| {args.mode} BLEU on {args.subset} ({len(hypotheses)} sentences): {score.text}\n| output: {out}")
    return 0
