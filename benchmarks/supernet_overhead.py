#!/usr/bin/env python
"""Cost of running a SubTransformer inside the SuperTransformer, against fairseq's plain ``transformer``.

Measured side by side in one run, same thread count, same batches and the same weights (the plain
transformer gets the SubTransformer's weights through ``hat.export``, so beam search does identical work):

* ``train_step_ratio``: forward + backward + Adam step, supernet / plain transformer;
* ``inference_ratio_supernet``: beam search on the same sentences, supernet / plain;
* ``inference_ratio_compact``: the same for the extracted compact SubTransformer / plain.

Rounds alternate between the models and the ratio of medians is reported (goal: <= 1.10, 1.10, 1.02).
"""
import argparse
import json
import statistics
import sys
import time
from argparse import Namespace
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import hat  # noqa: E402,F401
from fairseq.models import ARCH_CONFIG_REGISTRY  # noqa: E402
from fairseq.sequence_generator import SequenceGenerator  # noqa: E402
from hat.export.fairseq_transformer import to_fairseq_transformer  # noqa: E402
from hat.models.transformer_super import TransformerSuperModel  # noqa: E402
from hat.profiling import dummy_dictionary  # noqa: E402
from hat.subtransformer import extract_subtransformer  # noqa: E402


def build(vocab_size: int):
    """The Multi30k SuperTransformer (256/512, 6+6 layers, qkv 256) and a SubTransformer fairseq can express."""
    vocab = dummy_dictionary(vocab_size)
    args = Namespace(arch="transformersuper_multi30k", share_all_embeddings=True, dropout=0.1, attention_dropout=0.1,
                     qkv_dim=256)
    ARCH_CONFIG_REGISTRY[args.arch](args)  # the arch's dims, as fairseq's argument parsing applies them
    torch.manual_seed(0)
    supernet = TransformerSuperModel.build(args, vocab, vocab)
    config = {"encoder": {"encoder_embed_dim": 256, "encoder_layer_num": 6, "encoder_ffn_embed_dim": [384] * 6,
                          "encoder_self_attention_heads": [4] * 6},
              "decoder": {"decoder_embed_dim": 256, "decoder_layer_num": 4, "decoder_ffn_embed_dim": [384] * 6,
                          "decoder_self_attention_heads": [4] * 6, "decoder_ende_attention_heads": [4] * 6,
                          "decoder_arbitrary_ende_attn": [-1] * 6}}
    plain, _ = to_fairseq_transformer(supernet, config)
    supernet.set_sample_config(config)
    return supernet, plain, extract_subtransformer(supernet, config), vocab


def batches(vocab_size: int, n: int, batch: int, length: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        src = torch.randint(4, vocab_size, (batch, length), generator=g)
        tgt = torch.randint(4, vocab_size, (batch, length), generator=g)
        prev = torch.cat([torch.full((batch, 1), 2), tgt[:, :-1]], dim=1)
        out.append((src, torch.full((batch,), length), prev, tgt))
    return out


def train_steps(model, optimizer, data) -> float:
    model.train()
    start = time.perf_counter()
    for src, lengths, prev, tgt in data:
        logits = model(src, lengths, prev)[0]
        loss = F.cross_entropy(logits.view(-1, logits.size(-1)), tgt.view(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def beam_search(model, vocab, src) -> float:
    model.eval()
    gen = SequenceGenerator([model], vocab, beam_size=5, max_len_a=0, max_len_b=src.size(1))
    sample = {"net_input": {"src_tokens": src, "src_lengths": torch.full((src.size(0),), src.size(1))}}
    start = time.perf_counter()
    with torch.inference_mode():
        gen.generate([model], sample)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    supernet, plain, compact, vocab = build(args.vocab_size)
    train_data = batches(args.vocab_size, n=3, batch=32, length=30)
    sentences = batches(args.vocab_size, n=1, batch=16, length=20, seed=1)[0][0]
    optimizers = {"supernet": torch.optim.Adam(supernet.parameters(), lr=1e-5),
                  "plain": torch.optim.Adam(plain.parameters(), lr=1e-5)}
    times = {k: [] for k in ("train_supernet", "train_plain", "infer_supernet", "infer_compact", "infer_plain")}
    train_steps(supernet, optimizers["supernet"], train_data[:1])  # warm-up
    train_steps(plain, optimizers["plain"], train_data[:1])
    for r in range(args.rounds):
        times["train_supernet"].append(train_steps(supernet, optimizers["supernet"], train_data))
        times["train_plain"].append(train_steps(plain, optimizers["plain"], train_data))
        for name, model in (("supernet", supernet), ("compact", compact), ("plain", plain)):
            times[f"infer_{name}"].append(beam_search(model, vocab, sentences))
        print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {"train_step_ratio": med["train_supernet"] / med["train_plain"],
              "inference_ratio_supernet": med["infer_supernet"] / med["infer_plain"],
              "inference_ratio_compact": med["infer_compact"] / med["infer_plain"],
              "threads": args.threads, "rounds": args.rounds, "median_seconds": med}
    if args.json:
        print(json.dumps(result))
    else:
        for key in ("train_step_ratio", "inference_ratio_supernet", "inference_ratio_compact"):
            print(f"{key}: {result[key]:.3f}")
        print(f"(threads {args.threads}, {args.rounds} rounds; median seconds {json.dumps(med)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
