"""One error for a bad checkpoint everywhere: a missing, truncated, foreign or wrong-vocabulary checkpoint gives the
same one-line message in ``generate.py --path``, ``test.sh``, the export, ``load_supertransformer`` and
``train.py --restore-file`` (CPU, no training)."""
import sys
from argparse import Namespace

import pytest
import torch
from fairseq.data import Dictionary

import hat
from conftest import assert_user_error, run, tiny_args
from hat.checkpoint import save_model_checkpoint
from hat.errors import CheckpointError
from hat.export.subtransformer_checkpoint import export_subtransformer
from hat.models.transformer_super import TransformerSuperModel
from hat.profiling import dummy_dictionary
from hat.search_space import SearchSpace, write_subtransformer_yaml


def supertransformer_checkpoint(path, data, vocab):
    args = tiny_args(share_all_embeddings=True)
    args.source_lang, args.target_lang, args.data = "src", "tgt", str(data)
    save_model_checkpoint(TransformerSuperModel.build(args, vocab, vocab), args, path)
    return path


@pytest.fixture
def files(synthetic_bin, tmp_path):
    """The data, a SubTransformer YAML, and a checkpoint of each kind."""
    good = supertransformer_checkpoint(tmp_path / "good.pt", synthetic_bin,
                                       Dictionary.load(str(synthetic_bin / "dict.src.txt")))
    data = good.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    supertransformer_checkpoint(tmp_path / "vocab40.pt", synthetic_bin, dummy_dictionary(40))
    sub = tmp_path / "sub.yml"
    write_subtransformer_yaml(SearchSpace.from_args(tiny_args()).smallest(), sub)
    return {"data": synthetic_bin, "sub": sub, "good": good, "truncated": tmp_path / "truncated.pt",
            "foreign": tmp_path / "foreign.pt", "vocab40": tmp_path / "vocab40.pt", "missing": tmp_path / "missing.pt"}


def message(function, *args, **kwargs):
    with pytest.raises(CheckpointError) as info:
        function(*args, **kwargs)
    return str(info.value)


def generate(checkpoint, data, sub):
    from hat.cli.generate import main

    main([str(data), "--path", str(checkpoint), f"--configs={sub}", "--gen-subset", "test", "--cpu"])


def bleu_of(checkpoint, data, sub):
    from hat.evaluation.testing import test_bleu as bleu_of_test_set

    bleu_of_test_set(checkpoint, sub, data)


def restore(checkpoint, save_dir, data):
    from hat.training import choose_restore_file

    choose_restore_file(Namespace(save_dir=str(save_dir), restore_file=str(checkpoint), data=str(data),
                                  source_lang=None, target_lang=None))


EXPECTED = {
    "missing": "checkpoint not found: {path}",
    "truncated": "{path} is not a readable PyTorch checkpoint (RuntimeError: PytorchStreamReader failed reading zip "
                 "archive: failed finding central directory)",
    "foreign": "{path} is not a fairseq checkpoint (no 'model' entry)",
    "vocab40": "checkpoint {path} was trained with a 40-word dictionary, the data folder {data} has {words} words "
               "(dict.src.txt / dict.tgt.txt): use the data it was trained on",
}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_every_command_gives_the_same_one_line_message(files, tmp_path, kind):
    path, data, sub = files[kind], files["data"], files["sub"]
    words = len(Dictionary.load(str(data / "dict.src.txt")))
    expected = EXPECTED[kind].format(path=path, data=data, words=words)
    messages = {
        "generate.py --path": message(generate, path, data, sub),
        "test.sh": message(bleu_of, path, data, sub),
        "export": message(export_subtransformer, path, sub, tmp_path / "out.pt", data),
        "load_supertransformer": message(hat.load_supertransformer, path, data),
        "train.py --restore-file": message(restore, path, tmp_path, data),
    }
    assert messages == {command: expected for command in messages}
    assert not (tmp_path / "out.pt").exists()


def test_a_good_checkpoint_passes_the_check(files):
    from hat.loading import check_checkpoint_for_data

    check_checkpoint_for_data(files["good"], str(files["data"]))
    check_checkpoint_for_data(files["good"], str(files["data"]), "src", "tgt")
    check_checkpoint_for_data(files["vocab40"], None)  # no data to compare with: the task names it


@pytest.mark.parametrize("kind", ["truncated", "vocab40"])
def test_generate_py_exits_2_with_one_line(files, kind):
    """Not fairseq's 40-80-line traceback (a failed unpickling, a size mismatch in load_state_dict)."""
    proc = run([sys.executable, "generate.py", str(files["data"]), "--path", str(files[kind]),
                f"--configs={files['sub']}", "--gen-subset", "test", "--cpu"], timeout=300)
    assert_user_error(proc, str(files[kind]))


def test_test_sh_names_the_wrong_vocabulary(files, tmp_path):
    checkpoint = tmp_path / "ckpt" / "checkpoint_best.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(files["vocab40"].read_bytes())
    proc = run(["bash", "configs/multi30k.en-de/test.sh", str(checkpoint), str(files["sub"]), "normal", "0", "test"],
               env={"HAT_DATA": str(files["data"])})
    assert_user_error(proc, "40-word dictionary")
