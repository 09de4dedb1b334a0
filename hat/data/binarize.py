"""Binarise a tokenised parallel corpus with ``fairseq-preprocess`` (written to a temp dir, then renamed)."""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence, Union

from . import DataError


def binarize(text_dir: Union[str, Path], dest_dir: Union[str, Path], src: str, tgt: str,
             joined_dictionary: bool = True, workers: int = 1, extra: Sequence[str] = (),
             prefixes: Optional[dict] = None) -> Path:
    """Run fairseq-preprocess on ``text_dir/{train,valid,test}.{src,tgt}`` (other file prefixes per split with
    ``prefixes``, more flags with ``extra``); never leaves a half folder."""
    prefixes = {"train": "train", "valid": "valid", "test": "test", **(prefixes or {})}
    text_dir, dest_dir = Path(text_dir), Path(dest_dir)
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.", dir=dest_dir.parent))
    cmd = [sys.executable, "-m", "fairseq_cli.preprocess", "--source-lang", src, "--target-lang", tgt,
           *(f for split in ("train", "valid", "test") for f in (f"--{split}pref", str(text_dir / prefixes[split]))),
           "--destdir", str(tmp), "--workers", str(workers), *extra]
    if joined_dictionary:
        cmd.append("--joined-dictionary")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DataError(f"fairseq-preprocess failed:\n{proc.stderr[-2000:]}")
    if dest_dir.exists():
        shutil.rmtree(dest_dir)
    shutil.move(str(tmp), str(dest_dir))
    return dest_dir
