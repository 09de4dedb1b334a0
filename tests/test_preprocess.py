"""configs/<task>/preprocess.sh for the four paper tasks, against a local server (no network) that serves
miniature sources laid out as the recipes expect them."""
import gzip
import io
import os
import subprocess
import sys
import tarfile
import zipfile

import pytest

from conftest import ROOT, assert_user_error, serve_files
from hat.data.recipes import RECIPES, Corpus
from hat.data.text import MosesSteps, clean_corpus, remove_non_printing, sgm_segments

WORDS = ("house garden river Tree little blue cat sees the a green old big runs quickly near under over stone "
         "bridge").split()


def sentence(i: int, lang: str) -> str:
    words = [WORDS[(i * 7 + k * 3 + (lang == "de")) % len(WORDS)] for k in range(3 + i % 5)]
    if i % 11 == 0:
        words.append("well-known")
    if i % 13 == 0:
        words.append("Salt & Pepper")
    return " ".join(words) + "."


def corpus_text(corpus, lang: str, count: int, offset: int) -> str:
    """``count`` sentences of ``lang`` in the format of ``corpus`` (sentence ``offset + i``: both languages of a
    pair have the same number of words, except every 97th pair, whose English side is far too long; test
    sentences end with a word never seen in training)."""
    lines = []
    for i in range(offset, offset + count):
        text = sentence(i, lang) + (" filler" * 12 if i % 97 == 0 and lang == "en" else "")
        lines.append(f'<seg id="{i}"> {text} Qzxjv </seg>' if corpus.kind == "sgm" else text)
    if corpus.kind == "sgm":
        lines = ['<refset setid="x">', '<doc docid="d">', *lines, "</doc>", "</refset>"]
    if corpus.kind == "tags":
        lines = ["<url>http://ted.com/talk</url>", "<talkid>1</talkid>", "<keywords>talks</keywords>",
                 "<title>Title Of The Talk</title>", "<description>About it</description>"] + lines
    return "\n".join(lines) + "\n"


def sources_of(recipe, count: int) -> dict:
    """{file name: bytes} of every source the recipe downloads, holding the members it reads."""
    members: dict = {}
    corpora = [(c, count) for c in recipe.train] + [(c, 40) for c in recipe.test]
    corpora += [(c, 40) for c in recipe.valid] if not isinstance(recipe.valid, int) else []
    for offset, (corpus, n) in enumerate(corpora):
        texts = {lang: corpus_text(corpus, lang, n, 1000 * offset) for lang in (recipe.src, recipe.tgt)}
        if corpus.columns is not None:
            ordered = sorted(texts, key=lambda lang: corpus.columns[lang])
            rows = zip(*(texts[lang].splitlines() for lang in ordered))
            members.setdefault(corpus.source, {})[""] = "".join("\t".join(r) + "\n" for r in rows)
            continue
        for lang, text in texts.items():
            side = "src" if lang == recipe.src else "ref"
            members.setdefault(corpus.source, {})[corpus.member.format(lang=lang, side=side)] = text
    files = {}
    for source in recipe.sources:
        content = members.get(source.file, {})
        if recipe.pretokenized:
            content = {f"{prefix}.{lang}": corpus_text(Corpus(source.file), lang, 60, 0)
                       for prefix in recipe.pretokenized.values() for lang in (recipe.src, recipe.tgt)}
        files[source.url.split("?")[0].rsplit("/", 1)[-1]] = pack(source.file, content)
    if recipe.dictionary is not None:
        words = sorted({w for i in range(2000) for lang in (recipe.src, recipe.tgt) for w in sentence(i, lang).split()})
        files[recipe.dictionary.file] = "".join(f"{w} {100 - k}\n" for k, w in enumerate(words)).encode()
    return files


def pack(name: str, members: dict) -> bytes:
    buffer = io.BytesIO()
    if name.endswith(".zip"):
        with zipfile.ZipFile(buffer, "w") as archive:
            for member, text in members.items():
                archive.writestr(member, text)
    elif name.endswith((".tgz", ".tar.gz", ".tar")):
        with tarfile.open(fileobj=buffer, mode="w:gz" if not name.endswith(".tar") else "w") as archive:
            for member, text in members.items():
                data = gzip.compress(text.encode()) if member.endswith(".gz") else text.encode()
                info = tarfile.TarInfo(member)
                info.size = len(data)
                archive.addfile(info, io.BytesIO(data))
    else:
        return gzip.compress(members[""].encode())
    return buffer.getvalue()


def preprocess(task, data_dir, mirror, *extra):
    return subprocess.run(["bash", f"configs/{task}/preprocess.sh", *extra, "--data-dir", str(data_dir), "--mirror", mirror],
                          cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable},
                          timeout=300)


def lines(path):
    return path.read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize("task", sorted(RECIPES))
def test_preprocess_builds_the_binarised_corpus_as_the_original(task, tmp_path):
    recipe = RECIPES[task]
    count = 300 if task != "iwslt14.de-en" else 100
    with serve_files(sources_of(recipe, count)) as server:
        proc = preprocess(task, tmp_path, f"http://127.0.0.1:{server.server_address[1]}", "2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    binary = tmp_path / "binary" / recipe.name
    for split in ("train", "valid", "test"):
        for lang in (recipe.src, recipe.tgt):
            assert (binary / f"{split}.{recipe.src}-{recipe.tgt}.{lang}.bin").is_file()
    same_dict = lines(binary / f"dict.{recipe.src}.txt") == lines(binary / f"dict.{recipe.tgt}.txt")
    assert same_dict == recipe.joined_dictionary
    if recipe.pretokenized:
        return
    text = tmp_path / "text" / recipe.name / "tokenized"
    train = {lang: lines(text / f"train.{lang}") for lang in (recipe.src, recipe.tgt)}
    valid = lines(text / f"valid.{recipe.tgt}")
    test = lines(text / f"test.{recipe.tgt}")
    joined = " ".join(train[recipe.tgt])
    assert "z@@ x@@ j@@ " in " ".join(test) and "@@" not in joined  # BPE applied: learned merges join seen words only
    assert "&amp;" in joined  # tokenizer.perl escapes by default
    assert all(0.5 <= len(s.split()) / len(t.split()) <= 2 for s, t in zip(*train.values()))  # cleaned
    assert "filler" not in " ".join(train["en"] + lines(text / "valid.en"))  # the over-long pairs are gone
    if isinstance(recipe.valid, int):
        assert 0 < len(valid) <= count * len(recipe.train) // recipe.valid
    else:
        assert len(valid) == 40
    assert len(test) == 40 * len(recipe.test)  # the test sets are not cleaned
    if recipe.aggressive_dash:
        assert "well @-@ known" in joined.replace("@@ ", "")
    if recipe.lowercase:
        assert joined == joined.lower() and "title of the talk" in joined.replace("@@ ", "")
        assert "<url>" not in joined and "talkid" not in joined
    if recipe.dictionary is not None:
        served = lines(tmp_path / "text" / recipe.name / recipe.dictionary.file)
        assert lines(binary / f"dict.{recipe.tgt}.txt")[:len(served)] == served  # the released dictionary


def test_offline_or_corrupt_download_stops_with_one_message_and_no_data_folder(tmp_path):
    proc = preprocess("iwslt14.de-en", tmp_path, "http://127.0.0.1:9")
    assert_user_error(proc, "offline")
    assert not (tmp_path / "binary").exists()
    with serve_files({"de-en.tgz": b"this is not an archive"}) as server:
        proc = preprocess("iwslt14.de-en", tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
    assert_user_error(proc, "not valid")
    assert not (tmp_path / "binary").exists() and not (tmp_path / "text" / "iwslt14_de_en" / "orig" / "de-en.tgz").exists()


def test_an_archive_without_the_expected_files_is_named(tmp_path):
    with serve_files({"de-en.tgz": pack("de-en.tgz", {"de-en/README": "nothing here\n"})}) as server:
        proc = preprocess("iwslt14.de-en", tmp_path, f"http://127.0.0.1:{server.server_address[1]}")
    assert_user_error(proc, "de-en/train.tags.de-en.de")
    assert not (tmp_path / "binary").exists()


def test_text_steps_match_the_moses_scripts():
    assert MosesSteps("en", aggressive_dash=True)("A well-known R&D lab.") == "A well @-@ known R &amp; D lab ."
    assert MosesSteps("en", lowercase=True)("A well-known lab.") == "a well-known lab ."
    assert MosesSteps("fr", normalize=True)("« Bonjour »\u200b!") == "&quot; Bonjour &quot; !"
    assert remove_non_printing("a\u200bb\x07c") == "a b c"
    assert list(sgm_segments(['<doc docid="1">', '<seg id="3"> It\u2019s here. </seg>'])) == ["It's here."]


def test_clean_corpus_keeps_pairs_within_length_and_ratio(tmp_path):
    (tmp_path / "c.en").write_text("a b c\n\na b c d e f g\none  two   three\nx\n")
    (tmp_path / "c.de").write_text("a b\nq\na b\neins zwei drei\nx y z w\n")
    assert clean_corpus(tmp_path / "c", "en", "de", tmp_path / "out", 1.5, 1, 250) == 2
    assert lines(tmp_path / "out.en") == ["a b c", "one two three"] and lines(tmp_path / "out.de") == ["a b", "eins zwei drei"]
