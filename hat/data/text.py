"""The text steps of the original's ``preprocess.sh`` scripts, in Python and streaming (files of any size):
Moses punctuation normalisation, non-printing-character removal and tokenisation (sacremoses in place of
the Perl scripts), lowercasing, SGML segment extraction, ``clean-corpus-n`` and subword-nmt BPE.

Every function writes its output to a temporary file and renames it when complete, so an interrupted
step never leaves a file that looks finished.
"""
from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from multiprocessing import Pool
from pathlib import Path
from typing import Optional

from tqdm import tqdm

from ..io import atomic_output

CHUNK = 2000
SEGMENT = re.compile(r'<seg id="[0-9]*">\s*|\s*</seg>\s*')


def read_lines(path: Path) -> Iterator[str]:
    """The lines of a text file without their newline."""
    with open(path, encoding="utf-8", errors="replace") as stream:
        for line in stream:
            yield line.rstrip("\n")


def sgm_segments(lines: Iterable[str]) -> Iterator[str]:
    """The sentences of an SGML test set (``<seg id="N"> ... </seg>`` lines), with ``’`` made ``'``."""
    for line in lines:
        if "<seg id" in line:
            yield SEGMENT.sub("", line).replace("\u2019", "'")


def remove_non_printing(line: str) -> str:
    """Moses ``remove-non-printing-char.perl``: every Unicode "other" character (``\\p{C}``) becomes a space."""
    return "".join(" " if unicodedata.category(c).startswith("C") else c for c in line)


@dataclass(frozen=True)
class MosesSteps:
    """One line through the original's Moses pipeline for language ``lang``: optional punctuation
    normalisation + non-printing removal, tokenisation (``-a``: aggressive hyphen splitting; ``escape``:
    ``&`` -> ``&amp;`` etc. as ``tokenizer.perl`` does by default), optional lowercasing."""

    lang: str
    normalize: bool = False
    aggressive_dash: bool = False
    lowercase: bool = False
    escape: bool = True
    _tools: dict = field(default_factory=dict, compare=False, repr=False)

    def __call__(self, line: str) -> str:
        if not self._tools:
            from sacremoses import MosesPunctNormalizer, MosesTokenizer

            self._tools.update(tokenizer=MosesTokenizer(lang=self.lang), normalizer=MosesPunctNormalizer(lang=self.lang))
        if self.normalize:
            line = remove_non_printing(self._tools["normalizer"].normalize(line))
        line = self._tools["tokenizer"].tokenize(line, aggressive_dash_splits=self.aggressive_dash, escape=self.escape,
                                                 return_str=True)
        return line.lower() if self.lowercase else line


@dataclass(frozen=True)
class ApplyBPE:
    """subword-nmt ``apply_bpe.py -c codes`` on one line."""

    codes: str
    _bpe: list = field(default_factory=list, compare=False, repr=False)

    def __call__(self, line: str) -> str:
        if not self._bpe:
            from subword_nmt.apply_bpe import BPE

            with open(self.codes, encoding="utf-8") as stream:
                self._bpe.append(BPE(stream))
        return self._bpe[0].process_line(line)


def map_lines(lines: Iterable[str], step: Callable[[str], str], out: Path, workers: int = 1, desc: str = "",
              append: Optional[Iterable[str]] = None) -> int:
    """Write ``step(line)`` for every line to ``out`` (``workers`` processes, order kept, a progress bar);
    returns the line count."""
    count = 0
    with atomic_output(out) as stream, tqdm(desc=desc or out.name, unit=" lines", mininterval=2) as bar:
        if workers > 1:
            with Pool(workers) as pool:
                results = pool.imap(step, lines, chunksize=CHUNK)
                for count, line in enumerate(results, 1):
                    stream.write(line + "\n")
                    bar.update()
        else:
            for count, line in enumerate(map(step, lines), 1):
                stream.write(line + "\n")
                bar.update()
    return count


def split_every(path: Path, every: int, held_out: Path, rest: Path) -> None:
    """Lines whose 1-based number is a multiple of ``every`` go to ``held_out``, the others to ``rest``."""
    with atomic_output(held_out) as taken, atomic_output(rest) as kept:
        for number, line in enumerate(read_lines(path), 1):
            (taken if number % every == 0 else kept).write(line + "\n")


def clean_corpus(prefix: Path, src: str, tgt: str, out_prefix: Path, ratio: float, min_len: int, max_len: int,
                 max_word_length: int = 1000) -> int:
    """Moses ``clean-corpus-n.perl -ratio R prefix src tgt out min max``: keep the sentence pairs whose two
    sides have ``min_len``..``max_len`` words, a length ratio of at most ``ratio`` and no word longer than
    ``max_word_length``; whitespace is collapsed. Returns the number of pairs kept."""
    kept = 0
    with atomic_output(out_prefix.with_name(f"{out_prefix.name}.{src}")) as out_src, \
            atomic_output(out_prefix.with_name(f"{out_prefix.name}.{tgt}")) as out_tgt:
        pairs = zip(read_lines(prefix.with_name(f"{prefix.name}.{src}")), read_lines(prefix.with_name(f"{prefix.name}.{tgt}")))
        for line_src, line_tgt in pairs:
            words_src, words_tgt = line_src.split(), line_tgt.split()
            n_src, n_tgt = len(words_src), len(words_tgt)
            if not (min_len <= n_src <= max_len and min_len <= n_tgt <= max_len):
                continue
            if n_src / n_tgt > ratio or n_tgt / n_src > ratio:
                continue
            if any(len(w) > max_word_length for w in itertools.chain(words_src, words_tgt)):
                continue
            out_src.write(" ".join(words_src) + "\n")
            out_tgt.write(" ".join(words_tgt) + "\n")
            kept += 1
    return kept


def learn_bpe_codes(files: Iterable[Path], codes: Path, merges: int) -> Path:
    """subword-nmt ``learn_bpe.py -s merges`` on the concatenation of ``files`` (a joint BPE)."""
    from subword_nmt.learn_bpe import learn_bpe

    def lines() -> Iterator[str]:
        for path in files:
            with open(path, encoding="utf-8") as stream:
                yield from stream

    with atomic_output(codes) as stream:
        learn_bpe(lines(), stream, merges)
    return codes
