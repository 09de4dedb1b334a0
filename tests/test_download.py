"""download_model.py against a local HTTP server started by the test (no network)."""
import io
import os
import subprocess
import sys

import pytest
import torch

from conftest import ROOT, assert_user_error, build_tiny, serve_files
from hat.checkpoint import save_model_checkpoint
from hat.download import DownloadError, download, mirrored, part_path
from hat.latency.dataset import CSV_HEADER, format_row
from hat.latency.predictor import HatMLP
from hat.zoo import zoo_entries

CHECKPOINT = "HAT_iwslt14deen_super_space1"
PREDICTOR = "wmt14ende_cpu_xeon.pt"
DATASET = "wmt14ende_cpu_xeon_all.csv"


@pytest.fixture
def server(tmp_path_factory):
    served = tmp_path_factory.mktemp("served")
    model = build_tiny()
    buffer = io.BytesIO()
    save_model_checkpoint(model, model.args, served / "ckpt.pt")
    torch.save(HatMLP().state_dict(), buffer)
    csv = CSV_HEADER + "\n" + "\n".join(format_row([512, 6, 1024, 4, 512, i, 1024, 4, 4, 1], 10.0, 20.0 + i, 0.1, 0.2)
                                        for i in range(1, 7)) + "\n"
    with serve_files({f"{CHECKPOINT}.pt": (served / "ckpt.pt").read_bytes(), PREDICTOR: buffer.getvalue(),
                      DATASET: csv.encode(), "HAT_wmt14ende_super_space0.pt": b"not a checkpoint at all"}) as httpd:
        yield httpd


def cli(*args, env=None):
    return subprocess.run([sys.executable, "download_model.py", "--no-progress", *args], cwd=ROOT, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=120)


def mirror_of(server):
    return f"http://127.0.0.1:{server.server_address[1]}/mirror"


def test_mirror_replaces_scheme_and_host_and_keeps_the_file_name():
    url = zoo_entries()[CHECKPOINT].url
    assert url == f"https://www.dropbox.com/s/yv0mn8ns36gxkhs/{CHECKPOINT}.pt?dl=1"
    assert mirrored(url, "http://127.0.0.1:8000/m") == f"http://127.0.0.1:8000/m/s/yv0mn8ns36gxkhs/{CHECKPOINT}.pt?dl=1"
    with pytest.raises(DownloadError, match="not a URL"):
        mirrored(url, "127.0.0.1")


def test_downloads_model_predictor_and_dataset_into_their_folders(server, tmp_path):
    for name in (CHECKPOINT, PREDICTOR, DATASET):
        proc = cli("--model-name", name, "--save-path", str(tmp_path / "models"), "--latency-path",
                   str(tmp_path / "lat"), "--mirror", mirror_of(server))
        assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "models" / f"{CHECKPOINT}.pt").read_bytes() == server.files[f"{CHECKPOINT}.pt"]
    assert (tmp_path / "lat" / "predictors" / PREDICTOR).read_bytes() == server.files[PREDICTOR]
    assert (tmp_path / "lat" / DATASET).read_bytes() == server.files[DATASET]
    again = cli("--model-name", CHECKPOINT, "--save-path", str(tmp_path / "models"), "--mirror", mirror_of(server))
    assert again.returncode == 0 and "already there" in again.stdout


def test_environment_mirror_and_a_404(server, tmp_path):
    proc = cli("--model-name", "HAT_wmt19ende_super_space0", "--save-path", str(tmp_path),
               env={"HAT_MODEL_MIRROR": mirror_of(server)})
    assert_user_error(proc, "404")
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_leaves_no_file_and_resumes(server, tmp_path):
    server.truncate.add(f"{CHECKPOINT}.pt")
    target = tmp_path / f"{CHECKPOINT}.pt"
    first = cli("--model-name", CHECKPOINT, "--save-path", str(tmp_path), "--mirror", mirror_of(server))
    assert_user_error(first, "interrupted")
    assert not target.exists() and 0 < part_path(target).stat().st_size < len(server.files[f"{CHECKPOINT}.pt"])
    second = cli("--model-name", CHECKPOINT, "--save-path", str(tmp_path), "--mirror", mirror_of(server))
    assert second.returncode == 0, second.stderr[-2000:]
    assert target.read_bytes() == server.files[f"{CHECKPOINT}.pt"] and not part_path(target).exists()
    assert server.requests[-1][1] == f"bytes={part_size_before(server)}-"  # resumed, not restarted


def part_size_before(server):
    return len(server.files[f"{CHECKPOINT}.pt"]) // 2


def test_a_file_that_fails_verification_is_deleted(server, tmp_path):
    proc = cli("--model-name", "HAT_wmt14ende_super_space0", "--save-path", str(tmp_path), "--mirror", mirror_of(server))
    assert_user_error(proc, "not valid")
    assert list(tmp_path.iterdir()) == []


def test_offline_gives_one_clear_message(tmp_path):
    with pytest.raises(DownloadError, match="are you offline"):
        download("http://127.0.0.1:9/x.pt", tmp_path / "x.pt", lambda path: None, timeout=5, progress=False)
    assert not (tmp_path / "x.pt").exists()


def test_list_prints_the_zoo_table():
    proc = cli("--list")
    assert proc.returncode == 0
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 + 44 + 4 + 8 + 8
    row = next(line for line in lines if line.startswith("HAT_wmt14ende_raspberrypi@3.5s_bleu@25.8"))
    assert row.split()[1:] == ["subtransformer", "wmt14ende", "raspberrypi", "3.5s", "25.2M", "1.53G", "25.8", "25.6"]
