"""SuperTransformer / SubTransformer training through train.py and stock fairseq (CPU, synthetic data)."""
import ast
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest
import torch

from conftest import ROOT, assert_user_error
from hat.checkpoint import save_model_checkpoint
from hat.config_args import parse_config_args
from hat.search_space import SearchSpace

SAMPLED = re.compile(r"update (\d+) SubTransformer (\{.*\})")


def train_cmd(data, space_yml, save_dir, *extra):
    return [sys.executable, "train.py", str(data), f"--configs={space_yml}", "--save-dir", str(save_dir), "--cpu",
            "--no-progress-bar", "--log-format", "json", "--log-interval", "1", "--log-sampled-configs",
            "--seed", "3", *extra]


def run(cmd, timeout=300):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def sampled_configs(log: str):
    return {int(n): ast.literal_eval(c) for n, c in SAMPLED.findall(log)}


def train_losses(log: str):
    return [float(json.loads(line[line.index("{"):])["loss"]) for line in log.splitlines()
            if "train_inner" in line and "{" in line]


def space_of(space_yml):
    from hat.training import CONFIG_FLAGS, get_parser
    args = parse_config_args(get_parser(), ["data", f"--configs={space_yml}"], CONFIG_FLAGS)
    from hat.models.transformer_super import base_architecture
    base_architecture(args)
    return SearchSpace.from_args(args)


def test_supertransformer_trains_and_samples_by_update_number(synthetic_bin, tiny_space_yml, tmp_path):
    proc = run(train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "40",
                         "--log-file", str(tmp_path / "train.log")))
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stdout + proc.stderr
    losses = train_losses(log)
    assert len(losses) == 40
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5  # the loss falls
    configs = sampled_configs(log)
    space = space_of(tiny_space_yml)
    assert sorted(configs) == list(range(40))
    assert all(configs[n] == space.sample(n) for n in configs)  # a pure function of the update number
    assert len({json.dumps(c, sort_keys=True) for c in configs.values()}) > 20  # and actually varies
    assert "largest_loss" in log and "smallest_loss" in log
    # the log file has every validation once (fairseq alone wrote epoch N's lines N times)
    validations = [line for line in log.splitlines() if '"valid_largest_loss"' in line]
    logged = [line for line in (tmp_path / "train.log").read_text().splitlines() if '"valid_largest_loss"' in line]
    assert len(validations) >= 2 and len(logged) == len(validations)
    assert (tmp_path / "ckpt" / "checkpoint_last.pt").exists() and (tmp_path / "ckpt" / "checkpoint_best.pt").exists()


def test_resume_continues_the_same_update_count_and_sampling_sequence(synthetic_bin, tiny_space_yml, tmp_path):
    first = run(train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "6"))
    assert first.returncode == 0, first.stderr[-3000:]
    second = run(train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "12"))
    assert second.returncode == 0, second.stderr[-3000:]
    log = second.stdout + second.stderr
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 6 updates\)", log)
    resumed = sampled_configs(log)
    assert sorted(resumed) == list(range(6, 12))
    uninterrupted = run(train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "full", "--max-update", "12"))
    expected = sampled_configs(uninterrupted.stdout + uninterrupted.stderr)
    assert all(resumed[n] == expected[n] for n in resumed)


def checkpoint_updates(path) -> int:
    """The update count a checkpoint was saved at."""
    return torch.load(path, map_location="cpu", weights_only=False)["optimizer_history"][-1]["num_updates"]


def kill_once_saved(cmd, save_dir, updates: int, total: int, log_path) -> int:
    """Start ``cmd`` (output to ``log_path``) and SIGKILL it once its ``checkpoint_last.pt`` holds update ``updates``
    or a later one (the kill lands at an arbitrary point after that save: in the next updates, a validation or the
    next save). Checks that it was still running when killed, and returns the update count of the
    ``checkpoint_last.pt`` it left (what the same command resumes from): at least ``updates``, below ``total``."""
    last = save_dir / "checkpoint_last.pt"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen, saved = None, -1
    deadline = time.time() + 240
    while time.time() < deadline and saved < updates and proc.poll() is None:
        time.sleep(0.05)
        try:
            stamp = last.stat()
            if (stamp.st_ino, stamp.st_mtime_ns, stamp.st_size) != seen:  # replaced since the last look
                saved, seen = checkpoint_updates(last), (stamp.st_ino, stamp.st_mtime_ns, stamp.st_size)
        except Exception:  # not there yet (or caught mid-write): look again
            continue
    alive = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert alive, f"the training ended (exit {proc.returncode}) before the kill:\n{log_path.read_text()[-2000:]}"
    assert saved >= updates, f"no checkpoint of update {updates} before the kill"
    left = checkpoint_updates(last)  # never a half-written file
    assert updates <= left < total, f"killed at update {left}: not during the training (1-{total - 1})"
    return left


def test_sigkill_then_same_command_resumes_from_last_checkpoint(synthetic_bin, tiny_space_yml, tmp_path):
    cmd = train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "400", "--save-interval-updates", "3")
    saved_updates = kill_once_saved(cmd, tmp_path / "ckpt", 3, 400, tmp_path / "killed.log")
    assert 0 < saved_updates < 400
    again = run([*cmd[:-4], "--max-update", str(saved_updates + 4), "--save-interval-updates", "3"])
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout + again.stderr
    assert re.search(rf"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ {saved_updates} updates\)", log)
    assert sorted(sampled_configs(log)) == list(range(saved_updates, saved_updates + 4))


def test_subtransformer_training_changes_only_its_slices(synthetic_bin, tiny_space_yml, tmp_path):
    from hat.training import CONFIG_FLAGS, get_parser
    args = parse_config_args(get_parser(), [str(synthetic_bin), f"--configs={tiny_space_yml}"], CONFIG_FLAGS)
    from fairseq.data import Dictionary
    vocab = Dictionary.load(str(synthetic_bin / "dict.src.txt"))
    from hat.models.transformer_super import TransformerSuperModel
    torch.manual_seed(0)
    init = TransformerSuperModel.build(args, vocab, vocab)
    save_model_checkpoint(init, args, tmp_path / "init.pt")
    sub = ["--train-subtransformer", "--encoder-embed-dim-subtransformer", "16", "--decoder-embed-dim-subtransformer", "16",
           "--encoder-layer-num-subtransformer", "2", "--decoder-layer-num-subtransformer", "1",
           "--encoder-ffn-embed-dim-all-subtransformer", "32", "64", "--decoder-ffn-embed-dim-all-subtransformer", "32",
           "--encoder-self-attention-heads-all-subtransformer", "2", "4",
           "--decoder-self-attention-heads-all-subtransformer", "2", "--decoder-ende-attention-heads-all-subtransformer", "4",
           "--decoder-arbitrary-ende-attn-all-subtransformer", "1"]
    proc = run(train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "5", "--restore-file",
                         str(tmp_path / "init.pt"), "--reset-optimizer", "--reset-dataloader", "--reset-meters",
                         "--reset-lr-scheduler", "--weight-decay", "0", *sub))
    assert proc.returncode == 0, proc.stderr[-3000:]
    configs = sampled_configs(proc.stdout + proc.stderr)
    assert len(configs) == 5 and len({json.dumps(c, sort_keys=True) for c in configs.values()}) == 1
    before = init.state_dict()
    after = torch.load(tmp_path / "ckpt" / "checkpoint_last.pt", weights_only=False)["model"]
    # trained slices moved
    assert not torch.equal(after["encoder.layers.0.fc1.weight"][:32, :16], before["encoder.layers.0.fc1.weight"][:32, :16])
    assert not torch.equal(after["encoder.layers.1.fc1.weight"][:64, :16], before["encoder.layers.1.fc1.weight"][:64, :16])
    # everything outside the SubTransformer stayed as it was
    assert torch.equal(after["encoder.layers.0.fc1.weight"][32:], before["encoder.layers.0.fc1.weight"][32:])
    assert torch.equal(after["encoder.layers.0.fc1.weight"][:, 16:], before["encoder.layers.0.fc1.weight"][:, 16:])
    assert torch.equal(after["encoder.embed_tokens.weight"][:, 16:], before["encoder.embed_tokens.weight"][:, 16:])
    for key in before:
        if key.startswith(("encoder.layers.2.", "decoder.layers.1.", "decoder.layers.2.")):
            assert torch.equal(after[key], before[key]), key


def train_on_two_workers(data, space_yml, save_dir, *extra) -> list[str]:
    """``train.py`` on two gloo CPU workers (one process per rank); both ranks' output, after checking they exit 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    common = ["--distributed-world-size", "2", "--distributed-backend", "gloo", "--distributed-no-spawn",
              "--distributed-init-method", f"tcp://127.0.0.1:{port}", "--ddp-backend", "no_c10d", *extra]
    procs = [subprocess.Popen(train_cmd(data, space_yml, save_dir, *common, "--distributed-rank", str(rank)),
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for rank in (0, 1)]
    logs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs[0][-2000:] + logs[1][-2000:]
    return logs


def test_two_cpu_workers_train_the_same_subtransformers(synthetic_bin, tiny_space_yml, tmp_path):
    logs = train_on_two_workers(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "6")
    sampled = [sampled_configs(log) for log in logs]
    assert sorted(sampled[0]) == list(range(6))
    assert sampled[0] == sampled[1]
    assert "done training" in logs[0]  # rank 1's INFO logs are silenced by fairseq; its exit code is 0


@pytest.mark.parametrize("extra,message", [
    (["--encoder-embed-choice", "64", "32"], "encoder-embed-choice"),
    (["--decoder-self-attention-heads-choice", "3"], "qkv-dim"),
])
def test_out_of_space_value_exits_with_clear_message(synthetic_bin, tiny_space_yml, tmp_path, extra, message):
    proc = run(train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "1", *extra))
    assert_user_error(proc, message)


def test_unknown_yaml_key_exits_with_clear_message(synthetic_bin, tiny_space_yml, tmp_path):
    tiny_space_yml.write_text(tiny_space_yml.read_text() + "encoder-embed-choise: [32]\n")
    proc = run(train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "1"))
    assert_user_error(proc, "encoder-embed-choise", str(tiny_space_yml))


def test_fp16_is_ignored_with_a_warning_on_cpu(synthetic_bin, tiny_space_yml, tmp_path):
    proc = run(train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "2", "--fp16"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (proc.stdout + proc.stderr).count("fp16 is ignored") == 1


def test_overhead_benchmark_compares_the_multi30k_supernet_with_an_equal_plain_transformer():
    """benchmarks/supernet_overhead.py times a SubTransformer of the real Multi30k SuperTransformer
    (arch dims 256/512, not fairseq's defaults) against a plain transformer computing the same function."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import supernet_overhead
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    supernet, plain, compact, _ = supernet_overhead.build(vocab_size=300)
    assert supernet.encoder.embed_tokens.weight.shape == (300, 256)
    assert supernet.decoder.layers[0].fc1.weight.shape == (512, 256) and len(supernet.decoder.layers) == 6
    src, lengths, prev, _ = supernet_overhead.batches(300, n=1, batch=2, length=7)[0]
    with torch.no_grad():
        expected = plain(src, lengths, prev)[0]
        for model in (supernet, compact):
            torch.testing.assert_close(model.eval()(src, lengths, prev)[0], expected, rtol=0, atol=1e-4)


# --- exact resume, checkpoint faults, exclusive save dir -------------------------------------------------

def assert_same_tensors(a, b, where="") -> None:
    """Every tensor of two nested checkpoint structures is bit-identical."""
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where} differs (max abs {float((a.float() - b.float()).abs().max())})"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same_tensors(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_tensors(x, y, f"{where}[{i}]")


def test_training_killed_twice_ends_bit_identical_to_an_uninterrupted_run(synthetic_bin, tiny_space_yml, tmp_path):
    extra = ("--max-update", "36", "--save-interval-updates", "4", "--keep-interval-updates", "20")
    full = run(train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "full", *extra))
    assert full.returncode == 0, full.stderr[-3000:]
    epochs = re.findall(r"end of epoch (\d+) \(average epoch stats below\)", full.stdout + full.stderr)
    assert len(epochs) >= 2, "the run must span several epochs"

    cmd = train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "killed", *extra)
    first = kill_once_saved(cmd, tmp_path / "killed", 4, 36, tmp_path / "first.log")  # mid-epoch 1
    second = kill_once_saved(cmd, tmp_path / "killed", 24, 36, tmp_path / "second.log")  # a later epoch
    # the second run resumed where the first was killed, the last one where the second was: each trained on
    second_log = (tmp_path / "second.log").read_text()
    assert re.search(rf"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ {first} updates\)", second_log)
    assert min(sampled_configs(second_log)) == first
    resumed = run(cmd)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    log = resumed.stdout + resumed.stderr
    assert re.search(rf"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ {second} updates\)", log)
    assert sorted(sampled_configs(log)) == list(range(second, 36))

    expected = torch.load(tmp_path / "full" / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    got = torch.load(tmp_path / "killed" / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert got["optimizer_history"][-1]["num_updates"] == expected["optimizer_history"][-1]["num_updates"] == 36
    # ``_float_tensor`` is fairseq's uninitialised one-element buffer that only carries a dtype/device
    weights = {k: v for k, v in expected["model"].items() if not k.endswith("_float_tensor")}
    assert_same_tensors(weights, {k: got["model"][k] for k in weights}, "model")
    assert_same_tensors(expected["last_optimizer_state"], got["last_optimizer_state"], "optimizer")


def test_unreadable_last_checkpoint_falls_back_to_the_newest_readable_one(synthetic_bin, tiny_space_yml, tmp_path):
    save = tmp_path / "ckpt"
    extra = ("--save-interval-updates", "3", "--keep-interval-updates", "5")
    first = run(train_cmd(synthetic_bin, tiny_space_yml, save, "--max-update", "6", *extra))
    assert first.returncode == 0, first.stderr[-3000:]
    last = save / "checkpoint_last.pt"
    last.write_bytes(last.read_bytes()[:1000])  # truncated, as a full disk leaves it
    (save / "checkpoint_last.pt.tmp").write_bytes(b"partial")  # a save killed half-way
    again = run(train_cmd(synthetic_bin, tiny_space_yml, save, "--max-update", "9", *extra))
    assert again.returncode == 0, again.stderr[-3000:]
    log = again.stdout + again.stderr
    assert f"{last} is unreadable; resuming from" in log
    assert re.search(r"Loaded checkpoint .*checkpoint_\w+\.pt \(epoch \d+ @ 6 updates\)", log)
    assert sorted(sampled_configs(log)) == [6, 7, 8]
    assert not (save / "checkpoint_last.pt.tmp").exists()


def test_no_readable_checkpoint_is_an_error_not_a_fresh_start(synthetic_bin, tiny_space_yml, tmp_path):
    save = tmp_path / "ckpt"
    save.mkdir()
    (save / "checkpoint_last.pt").write_bytes(b"not a checkpoint")
    proc = run(train_cmd(synthetic_bin, tiny_space_yml, save, "--max-update", "2"))
    assert_user_error(proc, "checkpoint_last.pt is unreadable", "no other readable checkpoint")


@pytest.mark.parametrize("content", [None, b"\x80\x02garbage"])
def test_named_restore_file_missing_or_corrupt_is_one_line(synthetic_bin, tiny_space_yml, tmp_path, content):
    restore = tmp_path / "nope.pt"
    if content is not None:
        restore.write_bytes(content)
    proc = run(train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "2",
                         "--restore-file", str(restore)))
    assert_user_error(proc, str(restore))
    assert not list((tmp_path / "ckpt").glob("checkpoint*.pt"))  # nothing trained


def test_second_training_on_the_same_save_dir_is_refused(synthetic_bin, tiny_space_yml, tmp_path):
    save = tmp_path / "ckpt"
    first = subprocess.Popen(train_cmd(synthetic_bin, tiny_space_yml, save, "--max-update", "100000"), cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (save / ".lock").exists():
            time.sleep(0.1)
        time.sleep(1)
        second = run(train_cmd(synthetic_bin, tiny_space_yml, save, "--max-update", "2"))
        assert_user_error(second, f"save dir {save} is in use by another run (pid {first.pid})")
    finally:
        first.kill()
        first.wait()
    after = run(train_cmd(synthetic_bin, tiny_space_yml, save, "--max-update", "2"))  # a dead holder blocks nothing
    assert after.returncode == 0, after.stderr[-2000:]
