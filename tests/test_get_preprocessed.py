"""scripts/get_preprocessed.sh against a local HTTP server: success, 404 and a truncated archive."""
import functools
import http.server
import io
import subprocess
import tarfile
import threading

import pytest

from conftest import ROOT, assert_user_error


def make_tgz(folder_name: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in (("dict.en.txt", "a 1\n"), ("dict.de.txt", "b 1\n"), ("train.en-de.en.bin", "x")):
            data = text.encode()
            info = tarfile.TarInfo(f"{folder_name}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    good = make_tgz("wmt_preprocessed")
    (root / "good.tgz").write_bytes(good)
    (root / "truncated.tgz").write_bytes(good[: len(good) // 2])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def fetch(url, name, cwd):
    return subprocess.run(["bash", str(ROOT / "scripts" / "get_preprocessed.sh"), url, name], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_download_unpacks_into_final_folder(server, tmp_path):
    proc = fetch(f"{server}/good.tgz", "wmt16_en_de", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data/binary/wmt16_en_de/dict.en.txt").read_text() == "a 1\n"
    assert not [p for p in (tmp_path / "data/binary").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("path,message", [("missing.tgz", "could not download"), ("truncated.tgz", "not a valid .tgz")])
def test_failures_leave_no_data_folder(server, tmp_path, path, message):
    proc = fetch(f"{server}/{path}", "wmt16_en_de", tmp_path)
    assert_user_error(proc, message)
    assert not (tmp_path / "data/binary/wmt16_en_de").exists()
    assert not [p for p in (tmp_path / "data/binary").iterdir() if p.name.startswith(".")]
