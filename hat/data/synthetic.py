"""A small synthetic translation task, generated locally (no network): a learnable toy language pair.

Source sentences are random words of a source vocabulary; the target is the word-by-word translation
through a fixed random lexicon, with adjacent pairs swapped (so attention has to reorder). Difficulty
and size are set by the arguments; the same seed gives the same corpus.
"""
import random
from pathlib import Path
from typing import Dict, List, Tuple, Union

SPLITS = ("train", "valid", "test")


def make_lexicon(vocab_size: int, seed: int) -> Dict[str, str]:
    rng = random.Random(seed)
    targets = [f"t{i}" for i in range(vocab_size)]
    rng.shuffle(targets)
    return {f"s{i}": targets[i] for i in range(vocab_size)}


def translate(words: List[str], lexicon: Dict[str, str]) -> List[str]:
    """Word-by-word translation with every adjacent pair of words swapped."""
    out = [lexicon[w] for w in words]
    for i in range(0, len(out) - 1, 2):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def make_pairs(n: int, vocab_size: int, min_len: int, max_len: int, rng: random.Random,
               lexicon: Dict[str, str]) -> List[Tuple[str, str]]:
    pairs = []
    for _ in range(n):
        words = [f"s{rng.randrange(vocab_size)}" for _ in range(rng.randint(min_len, max_len))]
        pairs.append((" ".join(words), " ".join(translate(words, lexicon))))
    return pairs


def write_synthetic_corpus(folder: Union[str, Path], sizes: Tuple[int, int, int] = (2000, 200, 200),
                           vocab_size: int = 40, min_len: int = 3, max_len: int = 12, seed: int = 1,
                           src: str = "src", tgt: str = "tgt") -> Path:
    """Write ``{train,valid,test}.{src,tgt}`` text files into ``folder`` and return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    lexicon = make_lexicon(vocab_size, seed)
    for split, n in zip(SPLITS, sizes):
        pairs = make_pairs(n, vocab_size, min_len, max_len, rng, lexicon)
        (folder / f"{split}.{src}").write_text("".join(s + "\n" for s, _ in pairs))
        (folder / f"{split}.{tgt}").write_text("".join(t + "\n" for _, t in pairs))
    return folder
