"""Download, tokenise, BPE and binarise a paper task's corpus as the original's ``configs/<task>/preprocess.sh``
does (the recipes are in :mod:`hat.data.recipes`; the command line is :mod:`hat.cli.preprocess`, run by
``bash configs/<task>/preprocess.sh [WORKERS]``).

Downloads go to ``data/text/<name>/orig`` (resumed when interrupted, verified, then renamed; files already
there are used as they are); text to ``data/text/<name>``; the binarised corpus to ``data/binary/<name>``,
which appears only when complete. Every intermediate file is written under a temporary name and renamed,
so a rerun after an interruption continues with the first unfinished step. Offline, or when a server
answers an error, it raises :class:`hat.errors.DownloadError` naming the file; a ``mirror`` (the command
line's ``--mirror`` or ``HAT_DATA_MIRROR``) replaces the scheme and host of every link.
"""
from __future__ import annotations

import gzip
import itertools
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Optional, Sequence

from ..download import download, mirrored
from . import DataError
from .binarize import binarize
from .recipes import Corpus, Recipe, Source
from .text import (ApplyBPE, MosesSteps, clean_corpus, learn_bpe_codes, map_lines, read_lines, sgm_segments,
                   split_every)

MIRROR_ENV = "HAT_DATA_MIRROR"
"""The environment variable that gives the command line's default ``--mirror``."""
ARCHIVES = (".tgz", ".tar.gz", ".tar", ".zip")
TAG_LINES = ("<url>", "<talkid>", "<keywords>")
TAGS = ("<title>", "</title>", "<description>", "</description>")


SOURCE_ERRORS = (OSError, EOFError, ValueError, zipfile.BadZipFile, tarfile.TarError, DataError)
"""What :func:`verify_source` raises for a file that is not what its name says."""


def verify_source(path: Path) -> None:
    """Raise (one of :data:`SOURCE_ERRORS`) unless ``path`` is a readable archive / gzip file of the kind its
    name says (a dictionary: ``word count`` lines)."""
    name = path.name.removesuffix(".part").lstrip(".")
    if name.endswith(".zip"):
        with zipfile.ZipFile(path) as archive:
            archive.namelist()
    elif name.endswith((".tgz", ".tar.gz", ".tar")):
        with tarfile.open(path) as archive:
            archive.getmembers()
    elif name.endswith(".gz"):
        with gzip.open(path, "rb") as stream:
            while stream.read(1 << 20):
                pass
    else:
        first = path.read_text(encoding="utf-8").split("\n", 1)[0].split()
        if len(first) < 2 or not first[1].isdigit():
            raise DataError(f"{path.name} is not a fairseq dictionary (word count lines)")


def fetch(source: Source, orig: Path, mirror: Optional[str]) -> Path:
    """``orig/<file>``: used as it is when present, else downloaded (resumable, verified, atomic)."""
    path = orig / source.file
    if not path.is_file():
        print(f"| downloading {source.file}", flush=True)
        download(mirrored(source.url, mirror), path, verify_source)
    return path


def extracted(archive: Path) -> Path:
    """``<archive>.d``, the archive's members; unpacked into a temporary folder and renamed when complete."""
    folder = archive.with_name(archive.name + ".d")
    if folder.is_dir():
        return folder
    print(f"| unpacking {archive.name}", flush=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=archive.parent))
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                z.extractall(tmp)
        else:
            with tarfile.open(archive) as t:
                t.extractall(tmp, filter="data")
        tmp.replace(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def corpus_lines(corpus: Corpus, lang: str, side: str, orig: Path) -> Iterator[str]:
    """The sentences of one language of ``corpus`` (files under ``orig``), before tokenisation."""
    source = orig / corpus.source
    if corpus.member:
        path = extracted(source) / corpus.member.format(lang=lang, side=side)
    else:
        path = source
    if not path.is_file():
        raise DataError(f"{corpus.source} has no {path.relative_to(orig)}: the download is not the expected file "
                        f"(delete {source} and run again)")
    stream = gzip.open(path, "rt", encoding="utf-8", errors="replace") if path.name.endswith(".gz") \
        else open(path, encoding="utf-8", errors="replace")
    with stream:
        lines = (line.rstrip("\n") for line in stream)
        if corpus.columns is not None:
            column = corpus.columns[lang]
            lines = ((line.split("\t") + [""] * (column + 1))[column] for line in lines)
        if corpus.kind == "sgm":
            lines = sgm_segments(lines)
        elif corpus.kind == "tags":
            lines = (_strip_tags(line) for line in lines if not any(tag in line for tag in TAG_LINES))
        yield from lines


def _strip_tags(line: str) -> str:
    for tag in TAGS:
        line = line.replace(tag, "")
    return line


def tokenized(recipe: Recipe, corpora: Sequence[Corpus], lang: str, out: Path, orig: Path, workers: int,
              normalize: bool) -> Path:
    """``out``: the Moses-processed sentences of ``corpora`` in ``lang`` (skipped when ``out`` exists)."""
    if not out.is_file():
        side = "src" if lang == recipe.src else "ref"
        steps = MosesSteps(lang, normalize=normalize, aggressive_dash=recipe.aggressive_dash, lowercase=recipe.lowercase)
        lines = itertools.chain.from_iterable(corpus_lines(c, lang, side, orig) for c in corpora)
        map_lines(lines, steps, out, workers, desc=f"tokenising {out.name}")
    return out


def prepare_text(recipe: Recipe, text: Path, orig: Path, workers: int) -> Path:
    """Tokenised + BPE ``{train,valid,test}.{src,tgt}`` and the BPE ``code`` in ``text/tokenized``."""
    tmp, final = text / "tmp", text / "tokenized"
    langs = (recipe.src, recipe.tgt)
    train = {lang: tokenized(recipe, recipe.train, lang, tmp / f"train.tags.{lang}", orig, workers, recipe.normalize)
             for lang in langs}
    if recipe.clean_before_bpe:
        if not all((tmp / f"train.clean.{lang}").is_file() for lang in langs):
            clean_corpus(tmp / "train.tags", *langs, tmp / "train.clean", *recipe.clean)
        train = {lang: tmp / f"train.clean.{lang}" for lang in langs}
    for lang in langs:
        if isinstance(recipe.valid, int):
            if not (tmp / f"train.{lang}").is_file():
                split_every(train[lang], recipe.valid, tmp / f"valid.{lang}", tmp / f"train.{lang}")
        else:
            tokenized(recipe, recipe.valid, lang, tmp / f"valid.{lang}", orig, workers, normalize=False)
            if not (tmp / f"train.{lang}").is_file():
                shutil.copyfile(train[lang], tmp / f"train.{lang}")
        tokenized(recipe, recipe.test, lang, tmp / f"test.{lang}", orig, workers, normalize=False)
    codes = final / "code"
    if not codes.is_file():
        print(f"| learning {recipe.bpe_merges} BPE merges", flush=True)
        learn_bpe_codes([tmp / f"train.{lang}" for lang in langs], codes, recipe.bpe_merges)
    for split, lang in itertools.product(("train", "valid", "test"), langs):
        # IWSLT's BPE output is final; WMT's is cleaned (train, valid) or copied (test) into ``final`` below
        out = final / f"{split}.{lang}" if recipe.clean_before_bpe else tmp / f"bpe.{split}.{lang}"
        if not out.is_file():
            map_lines(read_lines(tmp / f"{split}.{lang}"), ApplyBPE(str(codes)), out, workers, desc=f"BPE {split}.{lang}")
    if not recipe.clean_before_bpe:
        for split in ("train", "valid"):
            if not all((final / f"{split}.{lang}").is_file() for lang in langs):
                clean_corpus(tmp / f"bpe.{split}", *langs, final / split, *recipe.clean)
        for lang in langs:
            if not (final / f"test.{lang}").is_file():
                shutil.copyfile(tmp / f"bpe.test.{lang}", final / f"test.{lang}")
    return final


def prepare(recipe: Recipe, data_dir: Path = Path("data"), workers: int = 1, mirror: Optional[str] = None,
            archive: Optional[Path] = None) -> Path:
    """Carry out ``recipe``; returns ``data_dir/binary/<name>`` (left as it is when it exists)."""
    binary, text = data_dir / "binary" / recipe.name, data_dir / "text" / recipe.name
    if binary.is_dir():
        print(f"| {binary} already exists", flush=True)
        return binary
    orig = text / "orig"
    orig.mkdir(parents=True, exist_ok=True)
    if archive is not None:
        if not archive.is_file():
            raise DataError(f"no such archive: {archive}")
        target = orig / recipe.sources[0].file
        if not target.is_file():
            try:
                verify_source(archive)
            except SOURCE_ERRORS as exc:
                raise DataError(f"{archive} is not a readable {recipe.sources[0].file} ({exc})") from None
            shutil.copyfile(archive, target)
    for source in recipe.sources:
        fetch(source, orig, mirror)
    extra = list(recipe.preprocess_flags)
    if recipe.dictionary is not None:
        extra += ["--tgtdict", str(fetch(recipe.dictionary, text, mirror))]
    if recipe.pretokenized:
        folder, prefixes = extracted(orig / recipe.sources[0].file), recipe.pretokenized
        for prefix in prefixes.values():
            for lang in (recipe.src, recipe.tgt):
                if not (folder / f"{prefix}.{lang}").is_file():
                    raise DataError(f"{recipe.sources[0].file} has no {prefix}.{lang}: not the expected archive")
        text_dir = folder
    else:
        text_dir, prefixes = prepare_text(recipe, text, orig, workers), {}
    print(f"| binarising into {binary}", flush=True)
    return binarize(text_dir, binary, recipe.src, recipe.tgt, joined_dictionary=recipe.joined_dictionary,
                    workers=workers, extra=extra, prefixes=prefixes)

