"""The README's commands write only to the user's own paths, never into files the project ships: run on a
temporary copy of the shipped configs and latency datasets, then compared file by file."""
import hashlib
import subprocess
import sys

from conftest import ROOT
from hat.config_args import read_config_file

SHIPPED = ("configs", "latency_dataset")


def tracked_files():
    out = subprocess.run(["git", "ls-files", *SHIPPED], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_section_4_commands_write_nowhere_shipped(tmp_path):
    files = tracked_files()
    if not files:  # not a git checkout (an sdist): nothing to compare against
        return
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    before = {name: digest(tmp_path / name) for name in files}
    task = "configs/multi30k.en-de"
    # the README's first two commands, small: 12 rows of a short dummy sentence, no data folder needed
    commands = [
        [sys.executable, str(ROOT / "latency_dataset.py"), f"--configs={task}/latency_dataset/cpu.yml",
         "--lat-dataset-size=12", "--latiter=1", "--lat-vocab-size=64", "--dummy-sentence-length=2", "--no-lat-probe"],
        [sys.executable, str(ROOT / "latency_predictor.py"), f"--configs={task}/latency_predictor/cpu.yml"],
    ]
    for cmd in commands:
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
    assert {name: digest(tmp_path / name) for name in files} == before  # no shipped file changed
    assert (tmp_path / "latency_dataset" / "mine" / "multi30k_ende_cpu.csv").is_file()
    assert (tmp_path / "latency_dataset" / "mine" / "multi30k_ende_cpu.pt").is_file()
    # the search's outputs (its YAMLs, its folder under the save dir) are not shipped files either
    evo = read_config_file(str(ROOT / task / "evo_search" / "cpu.yml"))
    stem = evo["write-config-path"].rsplit(".", 1)[0]
    assert not [name for name in files if name.startswith(stem)]
    assert not [name for name in files if name.startswith("checkpoints/")]
