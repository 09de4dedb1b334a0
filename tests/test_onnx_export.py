"""ONNX export of SubTransformers and their ONNX Runtime model: the same logits and hypotheses as PyTorch."""
import json
import sys

import pytest
import torch
from conftest import assert_user_error, build_tiny, random_tokens, run, run_in_process
from fairseq.sequence_generator import SequenceGenerator

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from hat.errors import ConfigError  # noqa: E402
from hat.export.onnx import METADATA, export_onnx, read_metadata  # noqa: E402
from hat.runtime.onnxruntime_model import OnnxRuntimeSubTransformer  # noqa: E402
from hat.subtransformer import extract_subtransformer  # noqa: E402
from test_evaluation import hypotheses_of  # noqa: E402


def heterogeneous_config():
    """Every layer different, E_enc != E_dec != qkv_dim, all three arbitrary-attention kinds."""
    return {"encoder": {"encoder_embed_dim": 32, "encoder_layer_num": 3, "encoder_ffn_embed_dim": [64, 32, 48],
                        "encoder_self_attention_heads": [4, 2, 4]},
            "decoder": {"decoder_embed_dim": 24, "decoder_layer_num": 3, "decoder_ffn_embed_dim": [48, 64, 32],
                        "decoder_self_attention_heads": [2, 4, 4], "decoder_ende_attention_heads": [4, 2, 2],
                        "decoder_arbitrary_ende_attn": [2, -1, 1]}}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A compact heterogeneous SubTransformer of the tiny SuperTransformer, exported with int8 graphs."""
    model = build_tiny(seed=10)  # a seed whose beam search finishes sentences at different steps
    compact = extract_subtransformer(model, heterogeneous_config()).eval()
    folder = tmp_path_factory.mktemp("onnx")
    export_onnx(compact, folder, int8=True)
    return compact, folder


def ort_model(compact, folder, int8=False):
    return OnnxRuntimeSubTransformer.load(folder, compact.encoder.dictionary, compact.decoder.dictionary, int8, threads=1)


def test_teacher_forced_logits_equal_pytorch(exported):
    """Shapes unlike the traced example (batch 4, 9 source tokens with padding, 7 steps): the graphs are dynamic."""
    compact, folder = exported
    src = random_tokens(24, 4, 9, seed=1)
    prev = random_tokens(24, 4, 7, seed=2, pad_tail=False)
    with torch.no_grad():
        expected = compact(src, src.ne(1).sum(1), prev)[0]
        actual = ort_model(compact, folder)(src, src.ne(1).sum(1), prev)[0]
    torch.testing.assert_close(actual, expected, rtol=0, atol=1e-5)


def test_beam_search_hypotheses_equal_pytorch(exported):
    """fairseq's beam search drives the ONNX Runtime model: same hypotheses and scores, finished sentences too."""
    compact, folder = exported
    src = random_tokens(24, 5, 7, seed=4)
    sample = {"net_input": {"src_tokens": src, "src_lengths": src.ne(1).sum(1)}}
    outs = [SequenceGenerator([m], m.decoder.dictionary, beam_size=4, max_len_b=12).generate([m], sample)
            for m in (compact, ort_model(compact, folder))]
    assert len({len(h[0]["tokens"]) for h in outs[0]}) > 1  # sentences finish at different steps
    for hyps_a, hyps_b in zip(*outs):
        for a, b in zip(hyps_a, hyps_b):
            assert torch.equal(a["tokens"], b["tokens"])
            assert abs(float(a["score"]) - float(b["score"])) < 1e-4


def test_int8_graphs_are_smaller_and_close(exported):
    compact, folder = exported
    sizes = read_metadata(folder)["sizes_bytes"]
    assert sizes["decoder_step_int8"] < sizes["decoder_step"]
    src = random_tokens(24, 2, 6, seed=5)
    prev = random_tokens(24, 2, 5, seed=6, pad_tail=False)
    with torch.no_grad():
        fp32 = compact(src, src.ne(1).sum(1), prev)[0]
        int8 = ort_model(compact, folder, int8=True)(src, src.ne(1).sum(1), prev)[0]
    error = (int8 - fp32).abs().max().item()
    assert 0 < error < 0.1 * fp32.abs().max().item()  # quantized (not identical), yet close


def test_metadata_describes_the_graphs(exported):
    compact, folder = exported
    metadata = json.loads((folder / METADATA).read_text())
    assert metadata["config"] == heterogeneous_config()
    assert [layer["attended_encoder_layers"] for layer in metadata["layers"]] == [3, 1, 2]
    assert [layer["self_head_dim"] for layer in metadata["layers"]] == [16, 8, 8]  # qkv 32 over 2, 4, 4 heads
    assert metadata["target_vocab_size"] == len(compact.decoder.dictionary)


def test_wrong_dictionary_and_missing_folder_are_one_line_errors(exported, tmp_path):
    from hat.profiling import dummy_dictionary

    compact, folder = exported
    with pytest.raises(ConfigError, match="24-word source dictionary"):
        OnnxRuntimeSubTransformer.load(folder, dummy_dictionary(30), dummy_dictionary(30))
    with pytest.raises(ConfigError, match="not an exported ONNX SubTransformer"):
        read_metadata(tmp_path)
    with pytest.raises(ConfigError, match="compact SubTransformer"):
        export_onnx(build_tiny(), tmp_path / "x")


# --- command line: export, generate.py --onnx, test.sh on a tiny trained SuperTransformer ------------------------

@pytest.fixture(scope="module")
def exported_cli(trained_supernet, tmp_path_factory):
    """A SubTransformer of the tiny trained SuperTransformer exported by the command line, with int8 graphs."""
    import random

    from hat.search_space import active_config, write_subtransformer_yaml

    space = trained_supernet["space"]
    config = active_config(space.gene_to_config(space.random_gene(random.Random(4))))
    root = tmp_path_factory.mktemp("deploy")
    write_subtransformer_yaml(config, root / "sub.yml")
    proc = run([sys.executable, "scripts/export_subtransformer.py", "--restore-file", str(trained_supernet["ckpt"]),
                "--configs", str(root / "sub.yml"), "--out", str(root / "onnx"), "--format", "onnx", "--int8", "--json"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return root, json.loads(proc.stdout.strip().splitlines()[-1])


def test_generate_onnx_gives_pytorchs_hypotheses(trained_supernet, exported_cli):
    root, sizes = exported_cli
    assert sizes["format"] == "onnx" and sizes["out_bytes"] > 4 * sizes["subtransformer_params"]  # weights inside
    assert sizes["out_int8_bytes"] < sizes["out_bytes"]
    common = [sys.executable, "generate.py", str(trained_supernet["data"]), "--gen-subset", "test", "--beam", "3",
              "--batch-size", "16", "--cpu"]
    torch_run = run([*common, "--path", str(trained_supernet["ckpt"]), f"--configs={root / 'sub.yml'}"])
    onnx_run = run([*common, "--onnx", str(root / "onnx")])
    int8_run = run([*common, "--onnx", str(root / "onnx"), "--onnx-int8"])
    for proc in (torch_run, onnx_run, int8_run):
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(hypotheses_of(torch_run.stdout)) == 2 * 40
    for ours, theirs in zip(hypotheses_of(onnx_run.stdout), hypotheses_of(torch_run.stdout), strict=True):
        (id_a, score_a, text_a), (id_b, score_b, text_b) = ours.split("\t"), theirs.split("\t")
        assert (id_a, text_a) == (id_b, text_b) and float(score_a) == pytest.approx(float(score_b), abs=1e-4)
    assert len(hypotheses_of(int8_run.stdout)) == 2 * 40


def test_test_sh_scores_the_onnx_folder(trained_supernet, exported_cli):
    from hat.evaluation.testing import test_bleu

    root, _ = exported_cli
    data = trained_supernet["data"]
    torch_score = test_bleu(trained_supernet["ckpt"], root / "sub.yml", data, subset="valid")
    onnx_score = test_bleu(root / "onnx", root / "sub.yml", data, subset="valid")
    proc = run(["bash", "configs/multi30k.en-de/test.sh", str(root / "onnx"), str(root / "sub.yml"), "normal", "0",
                "valid", "--json", "--int8"], env={"HAT_DATA": str(data)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    int8_score = json.loads(proc.stdout.strip().splitlines()[-1])
    assert onnx_score["output"] == str(root / "onnx" / "exp" / "sub.yml_valid_gen.out")
    assert int8_score["output"] == str(root / "onnx" / "exp" / "sub.yml_valid_int8_gen.out")
    assert onnx_score["score"] == torch_score["score"] and int8_score["sentences"] == 40


def test_onnx_command_line_errors_are_one_line(trained_supernet, exported_cli, tmp_path, capsys):
    from hat.cli import export_subtransformer, generate

    root, _ = exported_cli
    common = [str(trained_supernet["data"]), "--gen-subset", "valid", "--cpu"]
    cases = {"not an exported ONNX SubTransformer": (generate.main, [*common, "--onnx", str(tmp_path)]),
             "not both": (generate.main, [*common, "--onnx", str(root / "onnx"), "--path", str(trained_supernet["ckpt"])]),
             "needs --onnx": (generate.main, [*common, "--path", str(trained_supernet["ckpt"]), "--onnx-int8"]),
             "int8 graphs are an ONNX export": (export_subtransformer.main, [
                 "--restore-file", str(trained_supernet["ckpt"]), "--configs", str(root / "sub.yml"),
                 "--out", str(tmp_path / "x.pt"), "--int8"])}
    for expected, (main, argv) in cases.items():
        proc = run_in_process(capsys, main, argv)
        assert_user_error(proc, expected)
        assert proc.stderr.count("\n") == 1, proc.stderr  # nothing else printed
