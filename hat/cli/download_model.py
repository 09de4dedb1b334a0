"""``download_model.py``: the released HAT models, latency predictors and latency datasets (the original's
``download_model.py``, plus the predictors and datasets of its repository).

``--model-name NAME`` (a model name, ``<target>.pt`` for a predictor, ``<target>_all.csv`` for a dataset),
``--download-all``, ``--list``. Downloads show a progress bar, resume after an interruption, and land
under their final name only once verified (a checkpoint must load, a predictor must be one, a CSV must
parse). ``--mirror URL`` or ``HAT_MODEL_MIRROR`` replaces the scheme and host of every link.
"""
import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional, Sequence

import torch

from ..checkpoint import checkpoint_args, load_trusted
from ..download import DownloadError, download, mirrored
from ..errors import CheckpointError, ConfigError, PredictorError
from ..latency.dataset import read_latency_csv
from ..zoo import SUBTRANSFORMERS, ZooEntry, zoo_entries

MIRROR_ENV = "HAT_MODEL_MIRROR"

DEFAULT_MODEL = "HAT_wmt14ende_raspberrypi@3.5s_bleu@25.8"


def verify_checkpoint(path: Path) -> None:
    arch = str(getattr(checkpoint_args(load_trusted(path), path), "arch", ""))
    if not arch.startswith("transformersuper"):
        raise CheckpointError(f"it holds a '{arch}' model, not a HAT transformersuper one")


def verify_predictor(path: Path) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or "first_layer.weight" not in state:
        raise PredictorError("it is not an original HAT latency predictor state dict")


VERIFIERS = {"subtransformer": verify_checkpoint, "supertransformer": verify_checkpoint,
             "latency predictor": verify_predictor, "latency dataset": read_latency_csv}


def model_table(entries: List[ZooEntry]) -> str:
    """The zoo as a text table: task, hardware, latency, #params, FLOPs, BLEU, SacreBLEU (models), then files."""
    rows = [("name", "kind", "task", "hardware", "latency", "#params", "FLOPs", "BLEU", "SacreBLEU")]
    for entry in entries:
        if entry.kind == "subtransformer":
            _, task, target, _ = entry.name.split("_", 3)
            hardware, latency = target.split("@")
            record = SUBTRANSFORMERS[entry.name]
            rows.append((entry.name, entry.kind, task, hardware, latency, f"{record.params / 1e6:.1f}M",
                         f"{record.flops / 1e9:.2f}G", f"{record.bleu}", f"{record.sacrebleu}"))
        else:
            task = entry.name.split("_")[1] if entry.kind == "supertransformer" else entry.name.split("_")[0]
            hardware = "" if entry.kind == "supertransformer" else entry.name.split("_", 1)[1].rsplit(".", 1)[0].replace("_all", "")
            rows.append((entry.name, entry.kind, task, hardware, "", "", "", "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def get_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model-name", default=DEFAULT_MODEL, help=f"what to download (default {DEFAULT_MODEL})")
    parser.add_argument("--save-path", default="./downloaded_models", help="folder for the models")
    parser.add_argument("--latency-path", default="./latency_dataset",
                        help="folder for latency datasets (predictors go to its predictors/)")
    parser.add_argument("--download-all", action="store_true", help="download every model, predictor and dataset")
    parser.add_argument("--list", action="store_true", help="print the zoo table and exit")
    parser.add_argument("--mirror", default=os.environ.get(MIRROR_ENV),
                        help=f"replace the scheme and host of every link (default: ${MIRROR_ENV})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = get_parser().parse_args(sys.argv[1:] if argv is None else argv)
    entries = zoo_entries(args.save_path, args.latency_path)
    if args.list:
        print(model_table(list(entries.values())))
        return 0
    if args.download_all:
        chosen = list(entries.values())
    elif args.model_name in entries:
        chosen = [entries[args.model_name]]
    else:
        raise ConfigError(f"unknown model name {args.model_name!r}; python download_model.py --list shows the "
                         f"{len(entries)} names")
    failures = []
    for entry in chosen:
        if entry.path.exists():
            print(f"| {entry.path} is already there")
            continue
        url = mirrored(entry.url, args.mirror)
        try:
            download(url, entry.path, VERIFIERS[entry.kind], progress=not args.no_progress)
            print(f"| downloaded {entry.name} ({entry.kind}) to {entry.path}")
        except DownloadError as exc:
            failures.append(f"{entry.name}: {exc}")
            print(f"error: {entry.name}: {exc}", file=sys.stderr)
    if failures and len(chosen) > 1:
        print(f"error: {len(failures)} of {len(chosen)} downloads failed (rerun to resume them)", file=sys.stderr)
    return 2 if failures else 0


def cli() -> None:
    """The ``hat-download-model`` console command."""
    from . import run_cli

    sys.exit(run_cli(main))


if __name__ == "__main__":
    cli()
