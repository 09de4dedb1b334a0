"""BLEU as the HAT paper reports it (the original's ``configs/<task>/test.sh``).

* **Tokenized BLEU** (the "BLEU" column): fairseq's C scorer on whitespace tokens of the preprocessed
  text, 4-gram corpus BLEU with brevity penalty, case-sensitive unless asked, an ``<unk>`` in a
  reference never matches; for the paper's numbers both sides first get the compound splitting
  ``X-Y -> X ##AT##-##AT## Y``.
* **SacreBLEU** (the "SacreBLEU" column): hypotheses and references detokenized with sacremoses
  (English rules, as the original's ``sacremoses detokenize`` without a language), then
  ``sacrebleu.corpus_bleu`` with its defaults.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, DataError

COMPOUND = re.compile(r"(\S)-(\S)")


def split_compounds(line: str) -> str:
    """The original's ``perl -ple 's{(\\S)-(\\S)}{$1 ##AT##-##AT## $2}g'`` (non-overlapping, left to right)."""
    return COMPOUND.sub(r"\1 ##AT##-##AT## \2", line)


def detokenize(lines: Iterable[str], lang: str = "en") -> list[str]:
    """Moses detokenization of whitespace-tokenized lines (sacremoses; English rules by default, as the original)."""
    from sacremoses import MosesDetokenizer

    detokenizer = MosesDetokenizer(lang=lang)
    return [detokenizer.detokenize(line.split()) for line in lines]


@dataclass(frozen=True)
class BleuScore:
    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    sys_len: int
    ref_len: int
    text: str  # the scorer's own result line

    def to_json(self) -> dict:
        return {"score": self.score, "precisions": list(self.precisions), "brevity_penalty": self.brevity_penalty,
                "sys_len": self.sys_len, "ref_len": self.ref_len, "text": self.text}


def check_pairs(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise DataError(f"{len(hypotheses)} hypotheses but {len(references)} references: the files do not pair up")
    if not hypotheses:
        raise DataError("nothing to score: no hypotheses")


def _scored_pairs(hypotheses: Sequence[str], references: Sequence[str], ignore_case: bool):
    """fairseq's scorer setup of ``score.py``: a fresh dictionary and a BLEU scorer, and the pairs encoded with
    it (every word gets an id; a reference ``<unk>`` never matches)."""
    from fairseq.data import Dictionary
    from fairseq.scoring import bleu

    check_pairs(hypotheses, references)
    vocab = Dictionary()
    scorer = bleu.Scorer(bleu.BleuConfig(pad=vocab.pad(), eos=vocab.eos(), unk=vocab.unk()))
    fold = str.lower if ignore_case else str
    pairs = ((vocab.encode_line(fold(r)), vocab.encode_line(fold(h))) for h, r in zip(hypotheses, references))
    return scorer, pairs


def tokenized_bleu(hypotheses: Sequence[str], references: Sequence[str], order: int = 4,
                   ignore_case: bool = False) -> BleuScore:
    """Corpus BLEU of whitespace tokens with fairseq's C scorer (fairseq's ``score.py``)."""
    scorer, pairs = _scored_pairs(hypotheses, references, ignore_case)
    for reference, hypothesis in pairs:
        scorer.add(reference, hypothesis)
    stat = scorer.stat
    precisions = tuple(100 * p for p in scorer.precision()[:order])
    score = scorer.score(order) if stat.predlen else 0.0
    brevity = scorer.brevity() if stat.predlen else 0.0
    return BleuScore(score, precisions, brevity, int(stat.predlen), int(stat.reflen),
                     scorer.result_string(order) if stat.predlen else "BLEU = 0.00 (empty hypotheses)")


def sentence_bleu_lines(hypotheses: Sequence[str], references: Sequence[str], order: int = 4,
                        ignore_case: bool = False) -> list[str]:
    """fairseq's sentence-level BLEU (+1 smoothing of the counts), one result line per pair."""
    scorer, pairs = _scored_pairs(hypotheses, references, ignore_case)
    lines = []
    for i, (reference, hypothesis) in enumerate(pairs):
        scorer.reset(one_init=True)
        scorer.add(reference, hypothesis)
        lines.append(f"{i} {scorer.result_string(order)}")
    return lines


def sacre_bleu(hypotheses: Sequence[str], references: Sequence[str]) -> BleuScore:
    """``sacrebleu.corpus_bleu(hypotheses, [references])`` with sacrebleu's defaults."""
    import sacrebleu

    check_pairs(hypotheses, references)
    result = sacrebleu.corpus_bleu(list(hypotheses), [list(references)])
    return BleuScore(result.score, tuple(result.precisions), result.bp, result.sys_len, result.ref_len, str(result))


def paper_bleu(hypotheses: Sequence[str], references: Sequence[str], mode: str = "normal") -> BleuScore:
    """The paper's ``normal`` (compound-split tokenized BLEU) or ``sacre`` (detokenized SacreBLEU) score."""
    if mode == "normal":
        return tokenized_bleu([split_compounds(h) for h in hypotheses], [split_compounds(r) for r in references])
    if mode == "sacre":
        return sacre_bleu(detokenize(hypotheses), detokenize(references))
    raise ConfigError(f"unknown BLEU mode {mode!r}: choose normal or sacre")


def read_generation(path: str | Path) -> tuple[list[str], list[str]]:
    """Hypotheses (``H-`` lines, 3rd field) and references (``T-`` lines, 2nd field) of a generate output,
    ordered by sentence id."""
    hypotheses: dict[int, str] = {}
    references: dict[int, str] = {}
    with open(path, encoding="utf-8") as stream:
        for line in stream:
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 3 and fields[0].startswith("H-"):
                hypotheses[int(fields[0][2:])] = fields[2]
            elif len(fields) >= 2 and fields[0].startswith("T-"):
                references[int(fields[0][2:])] = fields[1]
    if set(hypotheses) != set(references):
        raise DataError(f"{path}: {len(hypotheses)} hypotheses but {len(references)} references")
    ids = sorted(hypotheses)
    return [hypotheses[i] for i in ids], [references[i] for i in ids]
