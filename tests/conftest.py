"""Shared fixtures: tiny SuperTransformers built on a synthetic dictionary (CPU, no data)."""
import os
import sys
import threading
from argparse import Namespace
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# The suite runs on two pytest-xdist workers (pyproject's addopts): one CPU thread each, inherited by the
# commands the tests start, so that the two workers' OpenMP threads never wait on each other (on 2 cores that
# costs several-fold). Set before torch is imported, which reads it once.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))

import hat  # noqa: E402,F401  (registers the fairseq plugin)
from hat.models.transformer_super import TransformerSuperModel  # noqa: E402
from hat.profiling import dummy_dictionary  # noqa: E402
from hat.search_space import SearchSpace  # noqa: E402

def task_of(model_name: str) -> str:
    """The config folder of a released model name, e.g. ``wmt14.en-de``."""
    from hat.zoo import TASK_FOLDERS

    return TASK_FOLDERS[model_name.split("_")[1]]


requires_shared = pytest.mark.skipif(not (SHARED / "data").is_dir(), reason="../shared/data is absent")


def tiny_args(**overrides) -> Namespace:
    """A small SuperTransformer: super dims 32/64, 3+3 layers, qkv 32, and a matching search space."""
    args = Namespace(
        arch="transformersuper_iwslt_de_en", encoder_embed_dim=32, decoder_embed_dim=32,
        encoder_ffn_embed_dim=64, decoder_ffn_embed_dim=64, encoder_layers=3, decoder_layers=3,
        encoder_attention_heads=4, decoder_attention_heads=4, qkv_dim=32, dropout=0.1, attention_dropout=0.1,
        share_all_embeddings=False, share_decoder_input_output_embed=False, no_token_positional_embeddings=False,
        encoder_embed_choice=[32, 24], decoder_embed_choice=[32, 24], encoder_layer_num_choice=[3, 2],
        decoder_layer_num_choice=[3, 2, 1], encoder_ffn_embed_dim_choice=[64, 48, 32],
        decoder_ffn_embed_dim_choice=[64, 48, 32], encoder_self_attention_heads_choice=[4, 2],
        decoder_self_attention_heads_choice=[4, 2], decoder_ende_attention_heads_choice=[4, 2],
        decoder_arbitrary_ende_attn_choice=[-1, 1, 2],
    )
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def build_tiny(seed: int = 0, vocab_size: int = 24, **overrides) -> TransformerSuperModel:
    torch.manual_seed(seed)
    vocab = dummy_dictionary(vocab_size)
    model = TransformerSuperModel.build(tiny_args(**overrides), vocab, vocab)
    # Non-trivial biases and norms, so that slicing mistakes cannot hide behind zeros and ones.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias") or "layer_norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def random_tokens(vocab_size: int, batch: int, length: int, seed: int, pad_tail: bool = True) -> torch.Tensor:
    """Random tokens ``[batch, length]`` ending in EOS; with ``pad_tail`` the first row is left-padded by 2."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(4, vocab_size, (batch, length), generator=g)
    tokens[:, -1] = 2
    if pad_tail and batch > 1:
        tokens[0, :2] = 1
    return tokens


@pytest.fixture
def space() -> SearchSpace:
    return SearchSpace.from_args(tiny_args())


TINY_SPACE_YAML = """\
arch: transformersuper
share-all-embeddings: True
encoder-embed-dim: 32
decoder-embed-dim: 32
encoder-ffn-embed-dim: 64
decoder-ffn-embed-dim: 64
encoder-layers: 3
decoder-layers: 3
encoder-attention-heads: 4
decoder-attention-heads: 4
qkv-dim: 32
encoder-embed-choice: [32, 16]
decoder-embed-choice: [32, 16]
encoder-layer-num-choice: [3, 2]
decoder-layer-num-choice: [3, 2, 1]
encoder-ffn-embed-dim-choice: [64, 32]
decoder-ffn-embed-dim-choice: [64, 32]
encoder-self-attention-heads-choice: [4, 2]
decoder-self-attention-heads-choice: [4, 2]
decoder-ende-attention-heads-choice: [4, 2]
decoder-arbitrary-ende-attn-choice: [-1, 1, 2]
optimizer: adam
adam-betas: (0.9, 0.98)
lr: 0.003
criterion: label_smoothed_cross_entropy
label-smoothing: 0.1
dropout: 0.1
max-tokens: 600
num-workers: 0
"""


@pytest.fixture(scope="session")
def synthetic_bin(tmp_path_factory):
    """A small binarised synthetic translation corpus (generated, no network)."""
    from hat.data.binarize import binarize
    from hat.data.synthetic import write_synthetic_corpus

    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_corpus(root / "text", sizes=(400, 40, 40), vocab_size=20)
    return binarize(root / "text", root / "bin", "src", "tgt")


@pytest.fixture
def tiny_space_yml(tmp_path):
    path = tmp_path / "space.yml"
    path.write_text(TINY_SPACE_YAML)
    return path


def synthetic_latency(configs):
    """A latency model growing with depth and width (ms), vectorised like a predictor."""
    from hat.search_space import config_features

    f = np.array([config_features(c) for c in configs])
    return 1.0 + f[:, 1] * f[:, 0] * f[:, 2] / 2000 + f[:, 5] * f[:, 4] * (f[:, 6] + 3 * f[:, 9]) / 500


@pytest.fixture(scope="session")
def short_bin(tmp_path_factory):
    """A synthetic corpus with short valid and test splits, for pipelines that test every model they train."""
    from hat.data.binarize import binarize
    from hat.data.synthetic import write_synthetic_corpus

    root = tmp_path_factory.mktemp("short")
    write_synthetic_corpus(root / "text", sizes=(300, 24, 12), vocab_size=20)
    return binarize(root / "text", root / "bin", "src", "tgt")


def reproduction_cmd(tmp_path, data, *extra):
    """``scripts/reproduce_multi30k.sh`` with tiny sizes on ``data`` (work folder ``tmp_path/work``, results in
    ``tmp_path/results``): one searched SubTransformer and one baseline, so that every experiment stays short; the
    75 % quantile, so that the int8 engine's search under that model's int8 latency finds a feasible population."""
    space, common = tmp_path / "space.yml", tmp_path / "common.yml"
    space.write_text(TINY_SPACE_YAML)
    common.write_text(TINY_SPACE_YAML + "train-subtransformer: True\n")
    return ["bash", "scripts/reproduce_multi30k.sh", "--workdir", str(tmp_path / "work"), "--results-dir",
            str(tmp_path / "results"), "--data", str(data), "--space", str(space), "--common", str(common),
            "--supernet-updates", "20", "--train-updates", "10", "--latency-rows", "12", "--latiter", "2",
            "--lat-rounds", "1", "--evo-iter", "2", "--population-size", "8", "--parent-size", "2",
            "--mutation-size", "3", "--crossover-size", "3", "--valid-cnt-max", "2", "--baselines", "32,64,4,3,3",
            "--final-latiter", "2", "--quantiles", "0.75", "0.75", "0.75",
            # choose by prediction: the on-device verification has its own tests (test_search_verify.py); here a
            # VM whose speed drifts between the 12-row latency dataset and the search would fail the pipeline
            "--verify-on-device", "0", *extra]


def run_in_process(capsys, main, argv):
    """A command-line tool's ``main`` on ``argv`` in this process, as its script runs it (a subprocess per call
    costs an import of fairseq): a CompletedProcess with its exit code, stdout and stderr."""
    import subprocess

    from hat.cli import run_cli

    try:
        code = run_cli(main, list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(list(argv), code, captured.out, captured.err)


def assert_user_error(proc, *fragments: str) -> str:
    """``proc`` (a CompletedProcess) failed as a user error should: exit status 2, no traceback, and the message is
    one line, the last of stderr (``error: ...``, also argparse's ``prog: error: ...``), holding every fragment.
    Returns that line."""
    assert proc.returncode == 2, f"exit {proc.returncode}: {proc.stderr[-3000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines, "no message on stderr"
    message = lines[-1]
    assert "error: " in message, f"the last line of stderr is not the error: {proc.stderr[-3000:]}"
    assert not any(line.startswith("error: ") for line in lines[:-1]), f"more than one error line: {proc.stderr[-3000:]}"
    missing = [f for f in fragments if f not in message]
    assert not missing, f"{missing} not in the error line {message!r}"
    return message


def run(cmd, timeout=600, env=None):
    """Run a command in the project root; shell wrappers get this Python as ``$PYTHON``."""
    import os
    import subprocess

    env = {**os.environ, "PYTHON": sys.executable, **(env or {})}
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def trained_supernet(synthetic_bin, tmp_path_factory):
    """A tiny SuperTransformer trained for a few updates, and a ridge latency predictor of its space."""
    root = tmp_path_factory.mktemp("supernet")
    space_yml = root / "space.yml"
    space_yml.write_text(TINY_SPACE_YAML)
    proc = run([sys.executable, "train.py", str(synthetic_bin), f"--configs={space_yml}", "--save-dir",
                str(root / "ckpt"), "--cpu", "--no-progress-bar", "--max-update", "30", "--seed", "2"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    from hat.training import CONFIG_FLAGS, get_parser
    from hat.config_args import parse_config_args
    from hat.latency.fitting import fit_ridge
    from hat.models.transformer_super import base_architecture
    from hat.search_space import config_features

    args = parse_config_args(get_parser(), [str(synthetic_bin), f"--configs={space_yml}"], CONFIG_FLAGS)
    base_architecture(args)
    space = SearchSpace.from_args(args)
    configs = [space.sample(i) for i in range(200)]
    features = np.array([config_features(c) for c in configs])
    predictor = fit_ridge(features, synthetic_latency(configs), penalty=1e-3)
    predictor.save(root / "predictor.pt")
    return {"data": synthetic_bin, "space_yml": space_yml, "ckpt": root / "ckpt" / "checkpoint_last.pt",
            "predictor": root / "predictor.pt", "space": space, "root": root}


class Files(BaseHTTPRequestHandler):
    """Serves ``server.files`` by the last path component; honours ``Range: bytes=N-``; a name in
    ``server.truncate`` gets half its body once (with the full Content-Length), then the connection closes."""

    def do_GET(self):  # noqa: N802 (http.server's naming)
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        self.server.requests.append((name, self.headers.get("Range")))
        body = self.server.files.get(name)
        if body is None:
            self.send_error(404, "Not Found")
            return
        start = int(self.headers["Range"].split("=")[1].rstrip("-")) if self.headers.get("Range") else 0
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if name in self.server.truncate:
            self.server.truncate.discard(name)
            self.wfile.write(body[start:start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@contextmanager
def serve_files(files: dict):
    """A local HTTP server (no network) serving ``files`` ({name: bytes}); yields the server."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    httpd.files, httpd.truncate, httpd.requests = files, set(), []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()


def pytest_collection_modifyitems(items):
    """Tests marked ``slow`` (the pipelines end to end, minutes each) first: xdist hands out files in collection
    order, so the longest start at once on both workers instead of ending the run on one."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
