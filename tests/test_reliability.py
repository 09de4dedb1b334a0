"""I/O faults end as one clear line naming the path, before the work where they can be foreseen, and
leave every file already written valid (real subprocesses, tiny sizes, file-size limits via setrlimit)."""
import resource
import subprocess
import sys

import torch

from conftest import ROOT, assert_user_error
from test_evo_search import evo_cmd
from test_training import train_cmd


def limited(limit_bytes: int):
    """A ``preexec_fn`` giving the child a file-size limit (writes past it fail with EFBIG)."""
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def run(cmd, limit_bytes=None, timeout=300):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          preexec_fn=limited(limit_bytes) if limit_bytes else None)


def test_latency_dataset_file_size_limit_is_one_line_and_keeps_complete_rows(tmp_path):
    from test_latency_measure import SPACE_KEYS
    from conftest import tiny_args
    from hat.latency.dataset import read_latency_csv

    args = tiny_args()
    yml = tmp_path / "tiny.yml"
    yml.write_text("\n".join(["latcpu: True", "latiter: 1", "latsilent: True", f"arch: {args.arch}", "data: data/absent"]
                             + [f"{k.replace('_', '-')}: {getattr(args, k)}" for k in SPACE_KEYS]) + "\n")
    csv = tmp_path / "lat.csv"
    proc = run([sys.executable, "latency_dataset.py", f"--configs={yml}", f"--lat-dataset-path={csv}",
                "--lat-dataset-size=200", "--lat-vocab-size=16", "--dummy-sentence-length=3", "--lat-threads=1",
                "--no-lat-probe"], limit_bytes=3000)
    assert_user_error(proc, f"cannot write {csv}", "too large")
    rows = len(read_latency_csv(csv).latency)  # every row in the file is complete
    assert 0 < rows < 200


def test_search_output_folders_are_checked_before_the_search(trained_supernet, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run(evo_cmd(trained_supernet, blocker / "sub.yml", "--latency-constraint", "20", "--search-dir",
                       str(tmp_path / "search")))
    assert_user_error(proc, "--write-config-path", str(blocker))
    assert not (tmp_path / "search" / "state.json").exists()  # failed before the first generation

    proc = run(evo_cmd(trained_supernet, tmp_path / "sub.yml", "--latency-constraint", "20", "--search-dir",
                       str(blocker / "search")))
    assert_user_error(proc, "search folder", str(blocker))


def test_training_that_cannot_write_its_checkpoint_is_one_line(synthetic_bin, tiny_space_yml, tmp_path):
    save = tmp_path / "ckpt"
    proc = run(train_cmd(synthetic_bin, tiny_space_yml, save, "--max-update", "3"), limit_bytes=200_000)
    assert_user_error(proc, f"cannot write a checkpoint in {save}")
    assert not (save / "checkpoint_last.pt").exists() or torch.load(save / "checkpoint_last.pt", weights_only=False)


def test_training_save_dir_under_a_file_fails_before_training(synthetic_bin, tiny_space_yml, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run(train_cmd(synthetic_bin, tiny_space_yml, blocker / "ckpt", "--max-update", "3"))
    assert_user_error(proc, "save dir", str(blocker))
    assert "| epoch" not in proc.stdout + proc.stderr
