"""Binarise a tokenised parallel corpus with ``fairseq-preprocess`` (written to a temp dir, then renamed)."""
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Union


def binarize(text_dir: Union[str, Path], dest_dir: Union[str, Path], src: str, tgt: str,
             joined_dictionary: bool = True, workers: int = 1) -> Path:
    """Run fairseq-preprocess on ``text_dir/{train,valid,test}.{src,tgt}``; never leaves a half folder."""
    text_dir, dest_dir = Path(text_dir), Path(dest_dir)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest_dir.name}.", dir=dest_dir.parent if dest_dir.parent.exists() else None))
    cmd = [sys.executable, "-m", "fairseq_cli.preprocess", "--source-lang", src, "--target-lang", tgt,
           "--trainpref", str(text_dir / "train"), "--validpref", str(text_dir / "valid"),
           "--testpref", str(text_dir / "test"), "--destdir", str(tmp), "--workers", str(workers)]
    if joined_dictionary:
        cmd.append("--joined-dictionary")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise RuntimeError(f"fairseq-preprocess failed:\n{proc.stderr[-2000:]}")
    if dest_dir.exists():
        shutil.rmtree(dest_dir)
    dest_dir.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(tmp), str(dest_dir))
    return dest_dir
