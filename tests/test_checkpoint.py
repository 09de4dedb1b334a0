"""Checkpoint compatibility: the project's own files, the original's fairseq-0.8 files, fairseq's loaders."""
import sys
import types
from argparse import Namespace
from collections import OrderedDict

import pytest
import torch
from fairseq import checkpoint_utils

import hat
from conftest import build_tiny, random_tokens, tiny_args
from hat.checkpoint import CheckpointError, save_atomic, save_model_checkpoint
from hat.models.transformer_super import TransformerSuperModel
from hat.profiling import dummy_dictionary


def write_dicts(folder, model, src="de", tgt="en"):
    model.encoder.dictionary.save(str(folder / f"dict.{src}.txt"))
    model.decoder.dictionary.save(str(folder / f"dict.{tgt}.txt"))


def outputs(model, config):
    model.set_sample_config(config)
    src = random_tokens(len(model.encoder.dictionary), 2, 7, seed=1)
    prev = random_tokens(len(model.decoder.dictionary), 2, 5, seed=2, pad_tail=False)
    with torch.no_grad():
        return model(src, src.ne(1).sum(1), prev)[0]


def test_project_checkpoint_round_trip(tmp_path, space):
    model = build_tiny(seed=11)
    args = model.args
    args.source_lang, args.target_lang, args.data = "de", "en", str(tmp_path)
    write_dicts(tmp_path, model)
    save_model_checkpoint(model, args, tmp_path / "ckpt.pt")
    loaded = hat.load_supertransformer(tmp_path / "ckpt.pt")  # dictionaries from the checkpoint's data path
    assert not loaded.training
    for seed in range(3):
        config = space.sample(seed)
        assert torch.equal(outputs(model, config), outputs(loaded, config))


def test_fairseq_loader_reads_project_checkpoint(tmp_path):
    """fairseq's own loading path (as fairseq-generate uses it) under PyTorch's weights_only default."""
    model = build_tiny(seed=12)
    args = model.args
    args.source_lang, args.target_lang, args.data, args.task = "de", "en", str(tmp_path), "translation"
    write_dicts(tmp_path, model)
    save_model_checkpoint(model, args, tmp_path / "ckpt.pt")
    models, _cfg = checkpoint_utils.load_model_ensemble([str(tmp_path / "ckpt.pt")], arg_overrides={"data": str(tmp_path)})
    config = hat.SearchSpace.from_args(tiny_args()).largest()
    assert isinstance(models[0], TransformerSuperModel)
    assert torch.equal(outputs(models[0].eval(), config), outputs(model, config))


def expected_original_keys(shared: bool):
    """The original's state_dict keys in order (its ``fairseq/models/transformer_super.py``), for one encoder and one
    decoder layer."""
    def attn(prefix):
        return [f"{prefix}.in_proj_weight", f"{prefix}.in_proj_bias", f"{prefix}.out_proj.weight", f"{prefix}.out_proj.bias"]

    def norm(prefix):
        return [f"{prefix}.weight", f"{prefix}.bias"]

    def ffn(prefix):
        return [f"{prefix}.fc1.weight", f"{prefix}.fc1.bias", f"{prefix}.fc2.weight", f"{prefix}.fc2.bias"]

    enc = ["encoder.version", "encoder.embed_tokens.weight", "encoder.embed_positions._float_tensor",
           *attn("encoder.layers.0.self_attn"), *norm("encoder.layers.0.self_attn_layer_norm"),
           *ffn("encoder.layers.0"), *norm("encoder.layers.0.final_layer_norm")]
    dec = ([] if shared else ["decoder.embed_out"]) + [
        "decoder.version", "decoder.embed_tokens.weight", "decoder.embed_positions._float_tensor",
        *attn("decoder.layers.0.self_attn"), *norm("decoder.layers.0.self_attn_layer_norm"),
        *attn("decoder.layers.0.encoder_attn"), *norm("decoder.layers.0.encoder_attn_layer_norm"),
        *ffn("decoder.layers.0"), *norm("decoder.layers.0.final_layer_norm")]
    return enc + dec


@pytest.mark.parametrize("shared", [False, True])
def test_state_dict_keys_and_shapes_are_the_originals(shared):
    vocab = dummy_dictionary(40)
    args = Namespace(arch="transformersuper_wmt_en_de", encoder_embed_dim=640, decoder_embed_dim=640,
                     encoder_ffn_embed_dim=3072, decoder_ffn_embed_dim=3072, encoder_layers=1, decoder_layers=1,
                     encoder_attention_heads=8, decoder_attention_heads=8, qkv_dim=512, share_all_embeddings=shared)
    state = TransformerSuperModel.build(args, vocab, vocab).state_dict()
    assert list(state) == expected_original_keys(shared)
    assert state["encoder.layers.0.self_attn.in_proj_weight"].shape == (1536, 640)
    assert state["encoder.layers.0.self_attn.out_proj.weight"].shape == (640, 512)
    assert state["decoder.layers.0.fc1.weight"].shape == (3072, 640)
    assert state["decoder.layers.0.fc2.weight"].shape == (640, 3072)
    assert state["encoder.version"].item() == 3 and state["encoder.embed_positions._float_tensor"].shape == (1,)


class _LegacyMeter:
    """Stands in for the original's ``fairseq.meters.AverageMeter`` when writing an original-style file."""

    def __init__(self):
        self.val, self.avg, self.sum, self.count = 1.0, 1.0, 1.0, 1


def write_original_checkpoint(path, model, args):
    """A fairseq-0.8 HAT checkpoint: args Namespace, fp16 weights, fairseq.meters objects in extra_state."""
    legacy = types.ModuleType("fairseq.meters")
    _LegacyMeter.__module__, _LegacyMeter.__qualname__ = "fairseq.meters", "AverageMeter"
    legacy.AverageMeter = _LegacyMeter
    saved = sys.modules.get("fairseq.meters")
    sys.modules["fairseq.meters"] = legacy
    try:
        state = {
            "args": args,
            "model": OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()),
            "optimizer_history": [{"criterion_name": "LabelSmoothedCrossEntropyCriterion", "optimizer_name": "FP16Optimizer",
                                   "lr_scheduler_state": {"best": 3.2}, "num_updates": 40000}],
            "extra_state": {"train_iterator": {"epoch": 10, "iterations_in_epoch": 0}, "val_loss": 3.2,
                            "train_meters": OrderedDict(train_loss=_LegacyMeter())},
        }
        torch.save(state, path, _use_new_zipfile_serialization=False)  # legacy (non-zip) format, as the 2020 files
    finally:
        if saved is None:
            del sys.modules["fairseq.meters"]
        else:
            sys.modules["fairseq.meters"] = saved


def test_original_format_checkpoint_loads_and_runs(tmp_path, space):
    model = build_tiny(seed=13)
    args = Namespace(**vars(tiny_args()))
    args.source_lang, args.target_lang, args.data = "de", "en", "data/binary/iwslt14_de_en"
    args.fp16, args.train_subtransformer, args.configs = True, False, "configs/iwslt14.de-en/supertransformer/space1.yml"
    write_dicts(tmp_path, model)
    write_original_checkpoint(tmp_path / "HAT_super.pt", model, args)
    sys.modules.pop("fairseq.meters", None)  # as in a fresh process
    loaded = hat.load_supertransformer(tmp_path / "HAT_super.pt", data_dir=tmp_path)
    config = space.sample(4)
    with torch.no_grad():  # the file holds fp16 weights
        for p in model.parameters():
            p.copy_(p.half().float())
    expected = outputs(model, config)
    torch.testing.assert_close(outputs(loaded, config), expected, rtol=0, atol=1e-6)


def test_missing_file_gives_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        hat.load_supertransformer(tmp_path / "nope.pt")


def test_garbage_and_truncated_files_give_clear_errors(tmp_path):
    (tmp_path / "garbage.pt").write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        hat.load_supertransformer(tmp_path / "garbage.pt")
    model = build_tiny()
    save_model_checkpoint(model, model.args, tmp_path / "good.pt")
    data = (tmp_path / "good.pt").read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable PyTorch checkpoint"):
        hat.load_supertransformer(tmp_path / "truncated.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no 'model' entry"):
        hat.load_supertransformer(tmp_path / "other.pt")


def test_checkpoint_of_another_architecture_is_rejected(tmp_path):
    save_atomic({"args": Namespace(arch="transformer_iwslt_de_en"), "model": {}}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="'transformer_iwslt_de_en' model, not a SuperTransformer"):
        hat.load_supertransformer(tmp_path / "plain.pt", data_dir=tmp_path)


def test_missing_dictionaries_and_mismatched_weights(tmp_path):
    model = build_tiny()
    args = model.args
    args.source_lang, args.target_lang = "de", "en"
    save_model_checkpoint(model, args, tmp_path / "ckpt.pt")
    with pytest.raises(CheckpointError, match="dictionary not found"):
        hat.load_supertransformer(tmp_path / "ckpt.pt", data_dir=tmp_path)
    write_dicts(tmp_path, model)
    state = torch.load(tmp_path / "ckpt.pt", weights_only=False)
    del state["model"]["encoder.layers.0.fc1.weight"]
    torch.save(state, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError, match="fc1.weight"):
        hat.load_supertransformer(tmp_path / "broken.pt", data_dir=tmp_path)


def test_save_atomic_keeps_previous_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "checkpoint_last.pt"
    save_atomic({"model": {"x": torch.ones(1)}}, target)

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_atomic({"model": {"x": torch.zeros(1)}}, target)
    assert torch.load(target)["model"]["x"].item() == 1.0
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_last.pt"]


def test_stock_fairseq_generate_with_user_dir(synthetic_bin, tmp_path):
    """``fairseq-generate --user-dir hat`` decodes with a project checkpoint (plugin imported by fairseq itself)."""
    import subprocess

    from fairseq.data import Dictionary

    from conftest import ROOT

    vocab = Dictionary.load(str(synthetic_bin / "dict.src.txt"))
    args = tiny_args(share_all_embeddings=True)
    args.source_lang, args.target_lang, args.data, args.task = "src", "tgt", str(synthetic_bin), "translation"
    model = TransformerSuperModel.build(args, vocab, vocab)
    save_model_checkpoint(model, args, tmp_path / "ckpt.pt")
    proc = subprocess.run([sys.executable, "-m", "fairseq_cli.generate", str(synthetic_bin), "--user-dir", str(ROOT / "hat"),
                           "--path", str(tmp_path / "ckpt.pt"), "--gen-subset", "test", "--beam", "2",
                           "--max-len-b", "5", "--batch-size", "16", "--cpu"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    hypotheses = [line for line in proc.stdout.splitlines() if line.startswith("H-")]
    assert len(hypotheses) == 40


def test_architecture_mismatch_is_one_line(tmp_path):
    """torch's load_state_dict message puts every key on a line of its own: the error stays one line."""
    model = build_tiny()
    args = model.args
    args.source_lang, args.target_lang = "de", "en"
    write_dicts(tmp_path, model)
    state = {"args": args, "model": dict(model.state_dict())}
    del state["model"]["encoder.layers.0.fc1.weight"]
    state["model"]["decoder.layers.0.fc2.bias"] = torch.zeros(3)
    save_atomic(state, tmp_path / "broken.pt")
    with pytest.raises(CheckpointError) as info:
        hat.load_supertransformer(tmp_path / "broken.pt", data_dir=tmp_path)
    assert "\n" not in str(info.value) and "fc1.weight" in str(info.value) and "fc2.bias" in str(info.value)
