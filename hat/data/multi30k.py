"""Multi30k (task 1) preparation: Moses tokenisation (sacremoses), joint BPE (subword-nmt), binarisation.

:func:`prepare` reads ``train.<lang>.gz``, ``val.<lang>.gz``, ``test_2016_flickr.<lang>.gz`` from a raw folder
(the repo's tests and benchmarks use ``../shared/data/multi30k``), or downloads them first, and writes
``<out>/text`` (tokenised + BPE) and ``<out>/bin`` (fairseq binary, joined dictionary). The command line is
:mod:`hat.cli.prepare_multi30k` (``scripts/prepare_multi30k.sh``).
"""
import gzip
import io
import shutil
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import List, Optional, Sequence

from subword_nmt.apply_bpe import BPE
from subword_nmt.learn_bpe import learn_bpe

from . import DataError
from .binarize import binarize
from .text import MosesSteps

RAW_SPLITS = {"train": "train", "valid": "val", "test": "test_2016_flickr"}
DOWNLOAD_URL = "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw/{name}.{lang}.gz"


def download_raw(dest: Path, langs: Sequence[str]) -> Path:
    """Download the raw gz files into ``dest`` (each written to a temp file, then renamed); a failed first
    download leaves no empty ``dest`` behind."""
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    for name in RAW_SPLITS.values():
        for lang in langs:
            target = dest / f"{name}.{lang}.gz"
            if target.exists():
                continue
            url = DOWNLOAD_URL.format(name=name, lang=lang)
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    data = response.read()
                gzip.decompress(data)  # verify before keeping it
            except (urllib.error.URLError, OSError, EOFError) as exc:
                if created and not any(dest.iterdir()):
                    dest.rmdir()
                raise DataError(f"cannot download {url} ({exc}); give the folder that holds the Multi30k "
                                "train/val/test_2016_flickr .gz files (prepare.sh RAW_DIR, or --raw-dir)") from None
            tmp = target.with_suffix(".gz.tmp")
            tmp.write_bytes(data)
            tmp.replace(target)
    return dest


def read_raw(raw_dir: Path, name: str, lang: str) -> List[str]:
    path = raw_dir / f"{name}.{lang}.gz"
    if not path.is_file():
        raise DataError(f"missing raw Multi30k file: {path}")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def prepare(raw_dir: Optional[Path], out: Path, src: str, tgt: str, bpe_merges: int = 8000, workers: int = 1) -> Path:
    """Tokenise, learn/apply joint BPE and binarise; returns the binary data folder."""
    raw_dir = raw_dir if raw_dir is not None else download_raw(out / "raw", (src, tgt))
    text = {(split, lang): list(map(MosesSteps(lang, escape=False), read_raw(raw_dir, name, lang)))
            for split, name in RAW_SPLITS.items() for lang in (src, tgt)}
    codes = io.StringIO()
    learn_bpe(io.StringIO("\n".join(text["train", src] + text["train", tgt]) + "\n"), codes, bpe_merges)
    codes.seek(0)
    bpe = BPE(codes)
    work = Path(tempfile.mkdtemp(prefix=".text.", dir=out if out.exists() else None))
    for (split, lang), lines in text.items():
        (work / f"{split}.{lang}").write_text("".join(bpe.process_line(line) + "\n" for line in lines), encoding="utf-8")
    (work / "bpe.codes").write_text(codes.getvalue(), encoding="utf-8")
    out.mkdir(parents=True, exist_ok=True)
    if (out / "text").exists():
        shutil.rmtree(out / "text")
    shutil.move(str(work), str(out / "text"))
    return binarize(out / "text", out / "bin", src, tgt, joined_dictionary=True, workers=workers)

