"""BLEU of a SubTransformer on a test set, as the original's ``configs/<task>/test.sh``, in process.

:func:`test_bleu` generates with the task's beam and length penalty (``--remove-bpe``, batch 128) into
``<checkpoint dir>/exp/<sub.yml name>_<subset>_gen.out`` and scores it: ``normal`` = tokenized BLEU with
compound splitting, ``sacre`` = SacreBLEU of the detokenized text (both in Python: no perl, no hidden
pipeline failures). Works on a CPU. The command line is ``configs/<task>/test.sh`` (``scripts/bleu.py``).

The "checkpoint" may also be a folder of ONNX graphs (``scripts/export_subtransformer.py --format onnx``): it is
translated on ONNX Runtime (``int8``: its int8 graphs) by ``generate.py --onnx``, into ``<folder>/exp/``.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Optional

from ..errors import CheckpointError, ConfigError, DataError
from ..io import PathLike
from ..search_space import read_subtransformer_yaml
from .bleu import paper_bleu, read_generation
from .generation import generate, parse_args

BLEU_MODES = ("normal", "sacre")


def output_path(checkpoint: PathLike, configs: PathLike, subset: str, int8: bool = False) -> Path:
    """The original's ``<checkpoint dir>/exp/<yml name>_<subset>_gen.out`` (an ONNX folder: ``<folder>/exp/``,
    ``_int8`` added for its int8 graphs)."""
    folder = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
    return folder / "exp" / f"{Path(configs).name}_{subset}{'_int8' if int8 else ''}_gen.out"


def model_flags(checkpoint: PathLike, configs: PathLike, int8: bool) -> list[str]:
    """``generate.py``'s flags for a checkpoint (``--path``, ``--configs``) or an exported ONNX folder (``--onnx``,
    whose SubTransformer must be the YAML's)."""
    if not Path(checkpoint).is_dir():
        if int8:
            raise ConfigError("int8 scoring needs an exported ONNX folder (scripts/export_subtransformer.py "
                              "--format onnx --int8), not a checkpoint")
        return ["--path", str(checkpoint), f"--configs={configs}"]
    from ..export.onnx import read_metadata

    exported = read_metadata(checkpoint)["config"]
    if exported != read_subtransformer_yaml(configs):
        raise ConfigError(f"{checkpoint} holds another SubTransformer than {configs}")
    return ["--onnx", str(checkpoint)] + (["--onnx-int8"] if int8 else [])


def subset_size(data: PathLike, subset: str) -> Optional[int]:
    """Sentences in the binarised ``subset`` of ``data`` (its ``<subset>.<src>-<tgt>.<src>`` index), if found."""
    from fairseq.data.indexed_dataset import MMapIndexedDataset

    indexes = sorted(Path(data).glob(f"{subset}.*-*.*.idx"))
    return len(MMapIndexedDataset(str(indexes[0].with_suffix("")))) if indexes else None


def test_bleu(checkpoint: PathLike, configs: PathLike, data: PathLike, mode: str = "normal", subset: str = "test",
              beam: int = 5, lenpen: float = 1.0, batch_size: int = 128, int8: bool = False) -> dict:
    """Generate ``subset`` of the binarised ``data`` with the SubTransformer ``configs`` (YAML) of ``checkpoint``
    into :func:`output_path` and score it with :func:`hat.evaluation.bleu.paper_bleu` (``mode``).

    Returns ``{"mode", "subset", "sentences", "output"}`` plus the score's fields (``score``, ``precisions``,
    ``brevity_penalty``, ``sys_len``, ``ref_len``, ``text``). Raises a :class:`hat.errors.HatError` for a bad
    mode, a missing checkpoint or data folder, or an invalid SubTransformer YAML, before loading the model.
    """
    if mode not in BLEU_MODES:
        raise ConfigError(f"unknown BLEU mode {mode!r}: choose {' or '.join(BLEU_MODES)}")
    if not Path(checkpoint).exists():
        raise CheckpointError(f"checkpoint not found: {checkpoint}")
    read_subtransformer_yaml(configs)  # fail now on a bad YAML, not after loading the model
    if not Path(data).is_dir():
        raise DataError(f"binarised data folder not found: {data}")
    flags = model_flags(checkpoint, configs, int8)
    out = output_path(checkpoint, configs, subset, int8)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".generate.") as tmp:
        generate(parse_args([
            str(data), *flags, "--gen-subset", subset,
            "--beam", str(beam), "--lenpen", str(lenpen), "--batch-size", str(batch_size),
            "--remove-bpe", "--results-path", tmp]))
        shutil.move(str(Path(tmp) / f"generate-{subset}.txt"), out)
    hypotheses, references = read_generation(out)
    expected = subset_size(data, subset)
    if expected is not None and len(hypotheses) != expected:
        raise DataError(f"generation translated {len(hypotheses)} of the {expected} sentences of {data} '{subset}'; "
                        "a BLEU score of part of a subset is not reported")
    score = paper_bleu(hypotheses, references, mode)
    return {"mode": mode, "subset": subset, "sentences": len(hypotheses), "output": str(out), **score.to_json()}


test_bleu.__test__ = False  # a library function, not a test: pytest must not collect it where it is imported
