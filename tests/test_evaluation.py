"""BLEU scoring, generation / test.sh on a tiny trained model, checkpoint averaging and SubTransformer export (CPU)."""
import json
import random
import subprocess
import sys

import pytest
import sacrebleu
import torch

from conftest import ROOT, assert_user_error, run, run_in_process
from hat.checkpoint import load_trusted, save_atomic
from hat.evaluation.averaging import average_checkpoints, last_checkpoints
from hat.evaluation.bleu import paper_bleu, read_generation, split_compounds, tokenized_bleu
from hat.search_space import active_config, write_subtransformer_yaml

HYPOTHESES = ["the cat sat on the mat .", "a quick brown fox jumps over the dog", "hello world", "well-known x-ray results"]
REFERENCES = ["the cat sat on a mat .", "a quick brown fox jumped over the lazy dog", "hello there world",
              "well-known x-ray result"]


def test_split_compounds_is_the_original_perl_rule():
    assert split_compounds("a well-known x-ray") == "a well ##AT##-##AT## known x ##AT##-##AT## ray"
    assert split_compounds("a - b -c d-") == "a - b -c d-"  # needs non-space characters on both sides
    assert split_compounds("a-b-c") == "a ##AT##-##AT## b-c"  # non-overlapping, like perl's s///g


def test_tokenized_bleu_equals_sacrebleu_without_tokenization_or_smoothing():
    ours = tokenized_bleu(HYPOTHESES, REFERENCES)
    theirs = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], tokenize="none", smooth_method="none", force=True)
    assert ours.score == pytest.approx(theirs.score, abs=1e-9)
    assert list(ours.precisions) == pytest.approx(theirs.precisions)
    assert ours.brevity_penalty == pytest.approx(theirs.bp) and (ours.sys_len, ours.ref_len) == (theirs.sys_len, theirs.ref_len)
    # case-sensitive unless asked, and an <unk> in a reference never matches
    assert tokenized_bleu(["A b c d"], ["a b c d"]).precisions[0] == pytest.approx(75.0)
    assert tokenized_bleu(["A b c d"], ["a b c d"], ignore_case=True).score == pytest.approx(100.0)
    assert tokenized_bleu(["<unk> b c d"], ["<unk> b c d"]).precisions[0] == pytest.approx(75.0)


def test_paper_bleu_modes():
    normal = paper_bleu(HYPOTHESES, REFERENCES, "normal")
    split = sacrebleu.corpus_bleu([split_compounds(h) for h in HYPOTHESES], [[split_compounds(r) for r in REFERENCES]],
                                  tokenize="none", smooth_method="none", force=True)
    assert normal.score == pytest.approx(split.score)
    tokenized = ["the cat , it sat .", "they stop ( now ) ."]
    sacre = paper_bleu(tokenized, ["the cat , it sat !", "they stop ( now ) ."], "sacre")
    detok = sacrebleu.corpus_bleu(["the cat, it sat.", "they stop (now)."], [["the cat, it sat!", "they stop (now)."]])
    assert sacre.score == pytest.approx(detok.score)


def score_cli(*args, stdin=None):
    return subprocess.run([sys.executable, "score.py", *args], cwd=ROOT, capture_output=True, text=True, input=stdin)


def test_score_py_matches_sacrebleu(tmp_path):
    (tmp_path / "sys.txt").write_text("\n".join(HYPOTHESES) + "\n")
    (tmp_path / "ref.txt").write_text("\n".join(REFERENCES) + "\n")
    proc = score_cli("--sys", str(tmp_path / "sys.txt"), "--ref", str(tmp_path / "ref.txt"), "--json")
    assert proc.returncode == 0, proc.stderr
    expected = sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES], tokenize="none", smooth_method="none", force=True)
    assert json.loads(proc.stdout)["score"] == pytest.approx(expected.score)
    proc = score_cli("--ref", str(tmp_path / "ref.txt"), "--sacrebleu", stdin="\n".join(HYPOTHESES) + "\n")
    assert proc.returncode == 0 and f"{sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score:.2f}" in proc.stdout
    lines = score_cli("--sys", str(tmp_path / "sys.txt"), "--ref", str(tmp_path / "ref.txt"), "--sentence-bleu")
    assert lines.returncode == 0 and len(lines.stdout.strip().splitlines()) == len(HYPOTHESES)
    (tmp_path / "short.txt").write_text("only one line\n")
    bad = score_cli("--sys", str(tmp_path / "short.txt"), "--ref", str(tmp_path / "ref.txt"))
    assert_user_error(bad, "do not pair up")


# --- averaging ----------------------------------------------------------------------------------------

def test_average_checkpoints_takes_the_last_epochs_and_averages(tmp_path):
    for epoch in range(1, 6):
        save_atomic({"model": {"w": torch.full((2, 2), float(epoch), dtype=torch.float16), "n": torch.tensor([epoch])},
                     "extra_state": {"epoch": epoch}}, tmp_path / f"checkpoint{epoch}.pt")
    (tmp_path / "checkpoint_last.pt").write_bytes((tmp_path / "checkpoint5.pt").read_bytes())
    paths = last_checkpoints(tmp_path, 3)
    assert [p.name for p in paths] == ["checkpoint5.pt", "checkpoint4.pt", "checkpoint3.pt"]
    averaged = average_checkpoints(paths)
    assert averaged["model"]["w"].dtype == torch.float32 and torch.all(averaged["model"]["w"] == 4.0)
    assert averaged["model"]["n"].item() == 4 and averaged["extra_state"] == {"epoch": 5}
    proc = run(["bash", "configs/iwslt14.de-en/average_checkpoint.sh", str(tmp_path), "2"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert torch.all(load_trusted(tmp_path / "average_model_2.pt")["model"]["w"] == 4.5)
    too_many = run([sys.executable, "average_checkpoints.py", "--inputs", str(tmp_path), "--num-epoch-checkpoints", "9",
                    "--output", str(tmp_path / "x.pt")])
    assert_user_error(too_many, "9 are needed")
    assert not (tmp_path / "x.pt").exists()


# --- generation, test.sh and export on a tiny trained SuperTransformer ---------------------------------------

@pytest.fixture(scope="module")
def sub_yml(trained_supernet, tmp_path_factory):
    space = trained_supernet["space"]
    config = active_config(space.gene_to_config(space.random_gene(random.Random(4))))
    path = tmp_path_factory.mktemp("sub") / "sub.yml"
    write_subtransformer_yaml(config, path)
    return path


def hypotheses_of(output: str):
    return [line for line in output.splitlines() if line.startswith(("H-", "D-"))]


def test_exported_subtransformer_generates_exactly_like_the_inherited_one(trained_supernet, sub_yml, tmp_path):
    out = tmp_path / "sub.pt"
    proc = run([sys.executable, "scripts/export_subtransformer.py", "--restore-file", str(trained_supernet["ckpt"]),
                "--configs", str(sub_yml), "--out", str(out), "--json"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    sizes = json.loads(proc.stdout.strip().splitlines()[-1])
    # the file holds the SubTransformer's float32 weights and little else
    assert sizes["subtransformer_params"] < sizes["supertransformer_params"]
    assert abs(sizes["out_bytes"] - 4 * sizes["subtransformer_params"]) < 200_000
    common = [str(trained_supernet["data"]), "--gen-subset", "test", "--beam", "3", "--batch-size", "16", "--cpu"]
    inherited = run([sys.executable, "generate.py", *common, "--path", str(trained_supernet["ckpt"]), f"--configs={sub_yml}"])
    exported = run([sys.executable, "generate.py", *common, "--path", str(out)])
    stock = run([sys.executable, "-m", "fairseq_cli.generate", *common, "--path", str(out), "--user-dir", str(ROOT / "hat"),
                 "--task", "translation_supertransformer"])
    for proc in (inherited, exported, stock):
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(hypotheses_of(inherited.stdout)) == 2 * 40
    assert hypotheses_of(exported.stdout) == hypotheses_of(inherited.stdout)
    assert hypotheses_of(stock.stdout) == hypotheses_of(inherited.stdout)


def test_generate_needs_a_subtransformer_for_a_supertransformer_checkpoint(trained_supernet):
    proc = run([sys.executable, "generate.py", str(trained_supernet["data"]), "--path", str(trained_supernet["ckpt"]),
                "--gen-subset", "test", "--cpu"])
    assert_user_error(proc, "--configs")


@pytest.mark.parametrize("mode", ["normal", "sacre"])
def test_test_sh_scores_a_real_generation(trained_supernet, sub_yml, tmp_path, mode):
    checkpoint = tmp_path / "ckpt" / "checkpoint_best.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(trained_supernet["ckpt"].read_bytes())
    proc = run(["bash", "configs/multi30k.en-de/test.sh", str(checkpoint), str(sub_yml), mode, "0", "valid", "--json"],
               env={"HAT_DATA": str(trained_supernet["data"])})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    output = tmp_path / "ckpt" / "exp" / "sub.yml_valid_gen.out"
    assert result["output"] == str(output) and result["sentences"] == 40
    hypotheses, references = read_generation(output)
    assert len(hypotheses) == 40 and all(not h.startswith("H-") for h in hypotheses)
    if mode == "normal":
        expected = sacrebleu.corpus_bleu([split_compounds(h) for h in hypotheses],
                                         [[split_compounds(r) for r in references]],
                                         tokenize="none", smooth_method="none", force=True).score
    else:
        from sacremoses import MosesDetokenizer

        detok = MosesDetokenizer(lang="en")
        expected = sacrebleu.corpus_bleu([detok.detokenize(h.split()) for h in hypotheses],
                                         [[detok.detokenize(r.split()) for r in references]]).score
    assert result["score"] == pytest.approx(expected)


def test_bleu_covers_every_sentence_of_a_subset_whose_size_is_not_a_multiple_of_8(trained_supernet, sub_yml,
                                                                                  tmp_path):
    """fairseq's batch_by_size with required_batch_size_multiple=8 silently dropped sentences (296 of 300)."""
    from hat.data.binarize import binarize
    from hat.data.synthetic import write_synthetic_corpus
    from hat.evaluation.testing import test_bleu

    # the fixture corpus's training text (hence its dictionary), with a 300-sentence test set
    data = binarize(write_synthetic_corpus(tmp_path / "text", sizes=(400, 40, 300), vocab_size=20),
                    tmp_path / "bin", "src", "tgt")
    assert (data / "dict.src.txt").read_text() == (trained_supernet["data"] / "dict.src.txt").read_text()
    checkpoint = tmp_path / "ckpt" / "checkpoint_best.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(trained_supernet["ckpt"].read_bytes())
    result = test_bleu(checkpoint, sub_yml, data, batch_size=128)
    hypotheses, references = read_generation(result["output"])
    assert result["sentences"] == len(hypotheses) == len(references) == 300


def test_generate_and_export_reject_a_subtransformer_off_the_trained_space(trained_supernet, sub_yml, tmp_path,
                                                                           capsys):
    """Encoder embed dim 24 fits the SuperTransformer (32) but is not in the encoder-embed-choice [32, 16] it was
    trained with (saved in its checkpoint): one line naming key, value and choices; --allow-off-space runs it."""
    from hat.search_space import read_subtransformer_yaml

    config = read_subtransformer_yaml(sub_yml)
    config["encoder"]["encoder_embed_dim"] = 24
    off = tmp_path / "off.yml"
    write_subtransformer_yaml(config, off)
    expected = f"{off}: encoder-embed-dim-subtransformer=24 is not in encoder-embed-choice [32, 16]"
    generate = [sys.executable, "generate.py", str(trained_supernet["data"]), "--path", str(trained_supernet["ckpt"]),
                f"--configs={off}", "--gen-subset", "valid", "--beam", "1", "--batch-size", "16", "--cpu"]
    export = [sys.executable, "scripts/export_subtransformer.py", "--restore-file", str(trained_supernet["ckpt"]),
              "--configs", str(off), "--out", str(tmp_path / "off.pt")]
    from hat.cli import export_subtransformer, generate as generate_cli

    for command, main in ((generate, generate_cli.main), (export, export_subtransformer.main)):
        proc = run_in_process(capsys, main, command[2:])  # the scripts themselves run below
        assert_user_error(proc, expected, "--allow-off-space")
    generated = run([*generate, "--allow-off-space"])
    assert generated.returncode == 0, generated.stderr[-3000:]
    assert len(hypotheses_of(generated.stdout)) == 2 * 40
    assert not (tmp_path / "off.pt").exists()
    exported = run([*export, "--allow-off-space"])
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert load_trusted(tmp_path / "off.pt")["args"].encoder_embed_dim_subtransformer == 24


def test_generate_help_lists_the_task_flags(capsys):
    """fairseq prints its help before it adds the task's flags: generate.py --help lists them all the same."""
    from hat.evaluation.generation import parse_args

    with pytest.raises(SystemExit) as exit_info:
        parse_args(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert exit_info.value.code == 0
    assert "--allow-off-space run a SubTransformer config outside the search space" in help_text
    assert "--subtransformer-config" in help_text
