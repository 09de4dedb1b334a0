"""The search experiments of scripts/reproduce_multi30k.sh end to end with tiny sizes on the synthetic corpus:
evolution vs random search, and the design-space ablation, which shares its evolution search. Neither needs the
reproduction's trained models: they run after its latency predictor."""
import json

import pytest

from conftest import reproduction_cmd, run
from hat.search_space import active_config, read_subtransformer_yaml

pytestmark = pytest.mark.slow


def test_search_comparison_and_design_space_end_to_end(short_bin, tmp_path):
    results = tmp_path / "results"
    cmd = reproduction_cmd(tmp_path, short_bin, "--seeds", "1")
    # evolution vs random search at the middle constraint: two search seeds each, then the winners trained
    compared = run([*cmd, "--experiment", "multi30k_search_vs_random", "--search-seeds", "1", "2",
                    "--comparison-generations", "2"], timeout=600)
    assert compared.returncode == 0, compared.stdout[-3000:] + compared.stderr[-3000:]
    curves = json.loads((results / "multi30k_search_vs_random.json").read_text())
    assert {(r["method"], r["seed"]) for r in curves} == {(m, s) for m in ("evolution", "random") for s in (1, 2)}
    for method, seed in {(r["method"], r["seed"]) for r in curves}:
        run_rows = [r for r in curves if (r["method"], r["seed"]) == (method, seed)]
        history = [json.loads(line) for line in (tmp_path / "work" / f"search_{method}_seed{seed}" / "history.jsonl")
                   .read_text().splitlines()]
        assert run_rows[-1]["evaluations"] == len(history)  # (no verification: every line is an evaluation)
        assert run_rows[-1]["best_loss"] == min(h["loss"] for h in history)
        assert all(a["best_loss"] >= b["best_loss"] and a["evaluations"] < b["evaluations"]
                   for a, b in zip(run_rows, run_rows[1:]))
    assert "=== train_random-winner_seed1" in compared.stdout and "train_hat" not in compared.stdout
    page = (results / "multi30k_search_vs_random.md").read_text()
    assert "| evolution |" in page and "| random |" in page

    # the design-space ablation reuses the evolution seed-1 search above and searches two smaller spaces
    ablation = run([*cmd, "--experiment", "multi30k_design_space", "--comparison-generations", "2"], timeout=600)
    assert ablation.returncode == 0, ablation.stdout[-3000:] + ablation.stderr[-3000:]
    assert "=== search_evolution_seed1: done before, skipped" in ablation.stdout
    variants = {r["variant"]: r for r in json.loads((results / "multi30k_design_space.json").read_text())}
    assert list(variants) == ["full-space", "no-arbitrary-attn", "uniform-layers"]
    from hat.search_space import active_config, read_subtransformer_yaml
    no_attn = active_config(read_subtransformer_yaml(tmp_path / "work" / "search_evolution_no_arbitrary_attn_seed1" /
                                                     "hat.yml"))
    assert set(no_attn["decoder"]["decoder_arbitrary_ende_attn"]) == {-1}
    uniform = active_config(read_subtransformer_yaml(tmp_path / "work" / "search_evolution_uniform_layers_seed1" /
                                                     "hat.yml"))
    assert len(set(uniform["encoder"]["encoder_ffn_embed_dim"])) == len(set(uniform["decoder"]["decoder_ffn_embed_dim"])) == 1
    assert all(r["latency_ms"] > 0 and 0 <= r["bleu"] <= 100 for r in variants.values())

    # the design-space ablation reuses the evolution seed-1 search above and searches two smaller spaces
    ablation = run([*cmd, "--experiment", "multi30k_design_space", "--comparison-generations", "2"], timeout=600)
    assert ablation.returncode == 0, ablation.stdout[-3000:] + ablation.stderr[-3000:]
    assert "=== search_evolution_seed1: done before, skipped" in ablation.stdout
    variants = {r["variant"]: r for r in json.loads((results / "multi30k_design_space.json").read_text())}
    assert list(variants) == ["full-space", "no-arbitrary-attn", "uniform-layers"]
    no_attn = active_config(read_subtransformer_yaml(tmp_path / "work" / "search_evolution_no_arbitrary_attn_seed1" /
                                                     "hat.yml"))
    assert set(no_attn["decoder"]["decoder_arbitrary_ende_attn"]) == {-1}
    uniform = active_config(read_subtransformer_yaml(tmp_path / "work" / "search_evolution_uniform_layers_seed1" /
                                                     "hat.yml"))
    assert len(set(uniform["encoder"]["encoder_ffn_embed_dim"])) == len(set(uniform["decoder"]["decoder_ffn_embed_dim"])) == 1
    assert all(r["latency_ms"] > 0 and 0 <= r["bleu"] <= 100 for r in variants.values())
