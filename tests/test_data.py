"""Corpus preparation: the synthetic task, Multi30k (tokenise, BPE, binarise) and download failures."""
import gzip
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED, assert_user_error, requires_shared
from hat.data import multi30k
from hat.data.synthetic import make_lexicon, translate, write_synthetic_corpus


def test_synthetic_corpus_is_deterministic_and_follows_its_rule(tmp_path):
    a = write_synthetic_corpus(tmp_path / "a", sizes=(20, 5, 5), seed=3)
    b = write_synthetic_corpus(tmp_path / "b", sizes=(20, 5, 5), seed=3)
    assert (a / "train.src").read_text() == (b / "train.src").read_text()
    lexicon = make_lexicon(40, 3)
    for src, tgt in zip((a / "valid.src").read_text().splitlines(), (a / "valid.tgt").read_text().splitlines()):
        assert tgt.split() == translate(src.split(), lexicon)
    assert translate(["s0", "s1", "s2"], {"s0": "a", "s1": "b", "s2": "c"}) == ["b", "a", "c"]


@requires_shared
def test_multi30k_prepare_on_a_slice_of_the_real_corpus(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in multi30k.RAW_SPLITS.values():
        for lang in ("en", "de"):
            with gzip.open(SHARED / "data" / "multi30k" / f"{name}.{lang}.gz", "rt", encoding="utf-8") as f:
                lines = [next(f) for _ in range(300)]
            with gzip.open(raw / f"{name}.{lang}.gz", "wt", encoding="utf-8") as f:
                f.writelines(lines)
    proc = subprocess.run([sys.executable, "-m", "hat.cli.prepare_multi30k", "--raw-dir", str(raw), "--src", "en",
                           "--tgt", "de", "--out", str(tmp_path / "out"), "--bpe-merges", "300"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = (tmp_path / "out" / "text" / "train.de").read_text().splitlines()
    assert len(text) == 300 and "@@ " in " ".join(text)  # BPE applied
    assert text[0].endswith(" .")  # Moses tokenisation split the final period
    binary = tmp_path / "out" / "bin"
    assert (binary / "dict.en.txt").read_text() == (binary / "dict.de.txt").read_text()  # joined dictionary
    assert (binary / "test.en-de.de.bin").exists() and (binary / "valid.en-de.en.idx").exists()


def test_failed_download_gives_clear_error_and_no_partial_file(tmp_path, monkeypatch):
    monkeypatch.setattr(multi30k, "DOWNLOAD_URL", "http://127.0.0.1:9/{name}.{lang}.gz")
    with pytest.raises(multi30k.DataError, match="--raw-dir"):
        multi30k.download_raw(tmp_path / "raw", ("en", "de"))
    assert not (tmp_path / "raw").exists()  # no empty raw folder left behind
    (tmp_path / "kept").mkdir()
    with pytest.raises(multi30k.DataError, match="prepare.sh RAW_DIR"):
        multi30k.download_raw(tmp_path / "kept", ("en", "de"))
    assert (tmp_path / "kept").is_dir()  # a folder the user made stays


def test_missing_raw_file_exits_2_with_message(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hat.cli.prepare_multi30k", "--raw-dir", str(tmp_path), "--out",
                           str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True)
    assert_user_error(proc, "missing raw Multi30k file")
