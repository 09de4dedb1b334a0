"""User errors: one family (hat.errors), one line and exit 2 at the command line, tracebacks only for bugs;
and the package layering (the library never imports the command-line layer or looks for the checkout)."""
import ast
import inspect
import re
from argparse import Namespace
from pathlib import Path

import pytest
import torch

import hat.errors
from conftest import ROOT, assert_user_error, run_in_process
from hat.cli import run_cli
from hat.errors import CheckpointError, ConfigError, DataError, HatError

HAT = ROOT / "hat"


# --- the error family and run_cli --------------------------------------------------------------------

def error_classes():
    return [obj for obj in vars(hat.errors).values()
            if inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == "hat.errors"]


def test_every_error_class_is_a_hat_error():
    classes = error_classes()
    assert len(classes) >= 11 and HatError in classes
    for cls in classes:
        assert issubclass(cls, HatError), cls.__name__


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_run_cli_prints_one_error_line_and_returns_2_for_a_hat_error(cls, capsys):
    def main(argv):
        print("partial output")
        raise cls(f"bad input {argv[0]}")

    assert run_cli(main, ["x.yml"]) == 2
    out, err = capsys.readouterr()
    assert out == "partial output\n"
    assert err == "error: bad input x.yml\n"


def test_run_cli_lets_a_bug_through_with_its_traceback():
    def main(argv):
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        run_cli(main, [])
    with pytest.raises(FileNotFoundError):
        run_cli(lambda argv: open(ROOT / "no such file"), [])


def test_run_cli_returns_the_status_of_main_and_130_when_interrupted(capsys):
    assert run_cli(lambda argv: 0, []) == 0
    assert run_cli(lambda argv: 3, []) == 3

    def interrupted(argv):
        raise KeyboardInterrupt

    assert run_cli(interrupted, []) == 130
    assert capsys.readouterr().err == "interrupted\n"


# --- user input raises the family, not ValueError / FileNotFoundError ------------------------------------

def test_bleu_inputs():
    from hat.evaluation.bleu import check_pairs, paper_bleu

    with pytest.raises(ConfigError, match="'bleu4'"):
        paper_bleu(["a"], ["a"], "bleu4")
    with pytest.raises(DataError, match="do not pair up"):
        check_pairs(["a", "b"], ["a"])
    with pytest.raises(DataError, match="nothing to score"):
        check_pairs([], [])


def test_test_bleu_checks_its_inputs_before_loading_anything(tmp_path):
    from hat.evaluation.testing import test_bleu as bleu_of_test_set

    checkpoint, yml = tmp_path / "checkpoint_best.pt", tmp_path / "sub.yml"
    with pytest.raises(ConfigError, match="'bleurt'"):
        bleu_of_test_set(checkpoint, yml, tmp_path, mode="bleurt")
    with pytest.raises(CheckpointError, match="checkpoint_best.pt"):
        bleu_of_test_set(checkpoint, yml, tmp_path)
    checkpoint.write_bytes(b"")
    with pytest.raises(ConfigError, match="sub.yml"):
        bleu_of_test_set(checkpoint, yml, tmp_path)
    assert not (tmp_path / "exp").exists()


def test_generate_needs_an_existing_checkpoint(tmp_path):
    from hat.evaluation.generation import generate

    with pytest.raises(CheckpointError, match="missing.pt"):
        generate(Namespace(path=f"{tmp_path / 'missing.pt'}"))
    with pytest.raises(ConfigError, match="--path"):
        generate(Namespace(path=None))


def test_model_flags_that_hat_does_not_support_are_config_errors():
    from conftest import build_tiny
    from hat.models.transformer_super import base_architecture
    from hat.modules.multihead_attention_super import check_heads
    from hat.tasks.translation_supertransformer import unwrap_supertransformer

    with pytest.raises(ConfigError, match="adaptive-softmax-cutoff"):
        base_architecture(Namespace(adaptive_softmax_cutoff="100,1000"))
    with pytest.raises(ConfigError, match="learned-pos"):
        build_tiny(encoder_learned_pos=True)
    with pytest.raises(ConfigError, match="encoder-embed-dim"):
        build_tiny(share_all_embeddings=True, decoder_embed_dim=24, decoder_embed_choice=[24])
    with pytest.raises(ConfigError, match="heads 3 do not divide qkv_dim 32"):
        check_heads(32, 3)
    with pytest.raises(ConfigError, match="transformersuper"):
        unwrap_supertransformer(torch.nn.Linear(1, 1))


def test_the_task_names_a_missing_data_folder_or_split(tmp_path, synthetic_bin):
    from hat.tasks.translation_supertransformer import (TranslationSuperTransformerConfig,
                                                        TranslationSuperTransformerTask)

    with pytest.raises(DataError, match="data folder not found.*nowhere"):
        TranslationSuperTransformerTask.setup_task(TranslationSuperTransformerConfig(data=str(tmp_path / "nowhere")))
    with pytest.raises(DataError, match="language pair"):
        TranslationSuperTransformerTask.setup_task(TranslationSuperTransformerConfig(data=str(tmp_path)))
    task = TranslationSuperTransformerTask.setup_task(TranslationSuperTransformerConfig(data=str(synthetic_bin)))
    with pytest.raises(DataError, match="'test2' split"):
        task.load_dataset("test2")


def test_a_bad_archive_for_preprocess_is_a_data_error(tmp_path):
    from hat.data.preprocess import prepare
    from hat.data.recipes import RECIPES

    archive = tmp_path / "wmt16_en_de.tar.gz"
    archive.write_bytes(b"not a tarball")
    with pytest.raises(DataError, match="wmt16_en_de.tar.gz"):
        prepare(RECIPES["wmt14.en-de"], tmp_path / "data", archive=archive)


def test_an_unknown_model_name_exits_2(capsys):
    from hat.cli.download_model import main

    proc = run_in_process(capsys, main, ["--model-name", "HAT_nothing"])
    assert assert_user_error(proc).startswith("error: unknown model name 'HAT_nothing'") and proc.stderr.count("\n") == 1


# --- layering --------------------------------------------------------------------------------------

def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path):
    """``(line, module)`` for every module an Import / ImportFrom of ``path`` names, relative imports resolved
    (``from .. import cli`` in ``hat.data.x`` names ``hat.cli``)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"


def library_files():
    return sorted(p for p in HAT.rglob("*.py") if HAT / "cli" not in p.parents)


def test_imported_modules_resolves_relative_imports():
    path = HAT / "data" / "multi30k.py"
    found = {module for _, module in imported_modules(path)}
    assert "hat.data.binarize" in found and "hat.data.text.MosesSteps" in found


def test_the_library_never_imports_the_command_line_layer():
    offenders = [f"{path.relative_to(ROOT)}:{line} imports {module}"
                 for path in library_files() for line, module in imported_modules(path)
                 if module == "hat.cli" or module.startswith("hat.cli.")]
    assert not offenders, "\n".join(offenders)


# The one place the package looks at its own location: fairseq's --user-dir needs the plugin folder.
ALLOWED_LOCATION = {("hat/training.py", "HAT_PACKAGE_DIR = Path(__file__).resolve().parent")}
LOCATION = re.compile(r"__file__|__path__|__spec__|\.parents\[|\.parent\.parent")


def test_no_library_module_looks_for_the_checkout():
    offenders = []
    for path in library_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if LOCATION.search(code) and (str(path.relative_to(ROOT)), code.strip()) not in ALLOWED_LOCATION:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)
