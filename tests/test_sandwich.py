"""Sandwich updates and in-place distillation (issue #16): sampling, gradients, losses, options (CPU, tiny models)."""
import ast
import json
import logging
import math
import re
from argparse import Namespace

import pytest
import torch
from fairseq import tasks
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
from fairseq.optim.sgd import SGD

from conftest import assert_user_error, run_in_process
from test_training import assert_same_tensors, sampled_configs, space_of, train_cmd, train_on_two_workers
from hat.checkpoint import load_trusted
from hat.cli import run_cli
from hat.export.subtransformer_checkpoint import export_subtransformer
from hat.cli.train import main
from hat.search_space import ConfigError, write_subtransformer_yaml
from hat.tasks.translation_supertransformer import (TranslationSuperTransformerConfig, check_sandwich_options,
                                                    sandwich_configs)
from hat.training import parse_train_args

MEMBER = re.compile(r"update (\d+) (largest|smallest|random\d+) SubTransformer (\{.*\})")


def logged_members(log: str) -> dict:
    """{update: {role: config}} from ``--log-sampled-configs`` lines of a sandwich run."""
    members = {}
    for update, role, config in MEMBER.findall(log):
        members.setdefault(int(update), {})[role] = ast.literal_eval(config)
    return members


def tiny_training(data, space_yml, *flags):
    """The task, model and criterion that ``train.py`` builds from the tiny space's YAML and ``flags``, with SGD,
    and a fixed batch of 8 validation sentences (targets of several lengths, so padded)."""
    args = parse_train_args([str(data), f"--configs={space_yml}", "--cpu", *flags])
    task = tasks.setup_task(args)
    torch.manual_seed(0)
    model = task.build_model(args)
    criterion = task.build_criterion(args)
    optimizer = SGD(Namespace(lr=[0.1], momentum=0.0, weight_decay=0.0), list(model.parameters()))
    task.load_dataset("valid")
    dataset = task.dataset("valid")
    sample = dataset.collater([dataset[i] for i in range(8)])
    assert sample["target"].eq(task.target_dictionary.pad()).any()
    return task, model, criterion, optimizer, sample


def train(capsys, caplog, data, space_yml, save_dir, *extra):
    """``train.py`` in this process (a subprocess spends seconds importing fairseq): its stderr (the sampled
    SubTransformers) and its log records as ``(logger name, message)`` (JSON progress lines are named by tag:
    ``train_inner``, ``valid``)."""
    caplog.clear()
    with caplog.at_level(logging.INFO):
        status = run_cli(main, train_cmd(data, space_yml, save_dir, *extra)[2:])
    err = capsys.readouterr().err
    assert status == 0, err[-3000:]
    return err, [(record.name, record.getMessage()) for record in caplog.records]


def kl_sum(teacher: torch.Tensor, student: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) from log-probabilities, written out, summed over the ``mask`` (non-pad) tokens."""
    return (teacher.exp() * (teacher - student)).sum(-1)[mask].sum()


def progress(log, tag: str) -> list:
    """The JSON progress records of ``tag`` in a log from :func:`train`."""
    return [json.loads(message) for name, message in log if name == tag and message.startswith("{")]


def test_sandwich_members_are_a_pure_function_of_the_update_number(space):
    members = sandwich_configs(space, 5, 3)
    assert list(members) == ["largest", "smallest", "random1", "random2", "random3"]  # the teacher first
    assert members["largest"] == space.largest() and members["smallest"] == space.smallest()
    assert [members[f"random{i}"] for i in (1, 2, 3)] == [space.sample(15 + i) for i in range(3)]
    assert sandwich_configs(space, 5, 3) == members
    # one random member is the uniform sampler's SubTransformer of that update
    assert all(sandwich_configs(space, n, 1)["random1"] == space.sample(n) for n in range(20))
    drawn = {json.dumps(c, sort_keys=True) for n in range(20) for role, c in sandwich_configs(space, n, 2).items()
             if role.startswith("random")}
    assert len(drawn) > 25  # fresh draws at every update, not the same few


def test_sandwich_training_resumes_the_same_members_with_update_freq(synthetic_bin, tiny_space_yml, tmp_path,
                                                                     capsys, caplog):
    """YAML keys, --update-freq 2 (two micro-batches, one step per update), distillation logged, and a resumed run
    continuing the members of each update number."""
    tiny_space_yml.write_text(tiny_space_yml.read_text() + "sandwich-random: 2\ninplace-distill: 0.5\n")
    save = tmp_path / "ckpt"
    first, first_log = train(capsys, caplog, synthetic_bin, tiny_space_yml, save, "--max-update", "1",
                             "--update-freq", "2", "--disable-validation")
    second, second_log = train(capsys, caplog, synthetic_bin, tiny_space_yml, save, "--max-update", "2",
                               "--update-freq", "2")
    assert any(re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 1 updates\)", message)
               for _, message in second_log)
    assert sorted(logged_members(first)) == [0] and sorted(logged_members(second)) == [1]
    members = {**logged_members(first), **logged_members(second)}
    space = space_of(tiny_space_yml)
    assert all(members[n] == sandwich_configs(space, n, 2) for n in members)
    # both micro-batches of update 0 trained the whole sandwich, then one optimizer step
    assert first.count("update 0 largest SubTransformer") == first.count("update 0 random2 SubTransformer") == 2
    records = progress(first_log, "train_inner") + progress(second_log, "train_inner")
    assert [int(r["num_updates"]) for r in records] == [1, 2]
    for record in records:
        assert 0 < float(record["distill_loss"]) < 20 and math.isfinite(float(record["loss"]))
        assert "largest_loss" in record and "smallest_loss" in record
    assert {"valid_largest_loss", "valid_smallest_loss"} <= set(progress(second_log, "valid")[-1])
    # a sandwich SuperTransformer is the same model class: its SubTransformers export as the uniform one's do
    sub = tmp_path / "smallest.yml"
    write_subtransformer_yaml(space.smallest(), sub)
    exported = export_subtransformer(save / "checkpoint_last.pt", sub, tmp_path / "smallest.pt")
    compact = load_trusted(tmp_path / "smallest.pt")
    assert compact["args"].encoder_embed_dim_subtransformer == space.smallest()["encoder"]["encoder_embed_dim"]
    assert 0 < exported["subtransformer_params"] < exported["supertransformer_params"]


def test_options_off_train_exactly_as_uniform_sampling(synthetic_bin, tiny_space_yml, tmp_path, capsys, caplog):
    common = ("--max-update", "3", "--disable-validation")
    plain, plain_log = train(capsys, caplog, synthetic_bin, tiny_space_yml, tmp_path / "plain", *common)
    off, off_log = train(capsys, caplog, synthetic_bin, tiny_space_yml, tmp_path / "off", *common,
                         "--sandwich-random", "0", "--inplace-distill", "0")
    losses = [[(r["loss"], r["nll_loss"]) for r in progress(log, "train_inner")] for log in (plain_log, off_log)]
    assert len(losses[0]) == 3 and losses[1] == losses[0]
    assert sorted(sampled_configs(plain)) == [0, 1, 2] and sampled_configs(off) == sampled_configs(plain)
    assert not MEMBER.search(off) and all("distill_loss" not in r for r in progress(off_log, "train_inner"))
    weights = [torch.load(tmp_path / name / "checkpoint_last.pt", map_location="cpu", weights_only=False)["model"]
               for name in ("plain", "off")]
    assert_same_tensors({k: v for k, v in weights[0].items() if not k.endswith("_float_tensor")},
                        {k: v for k, v in weights[1].items() if not k.endswith("_float_tensor")}, "model")


def test_distillation_loss_equals_an_independent_kl(synthetic_bin, tiny_space_yml):
    task, model, criterion, optimizer, sample = tiny_training(
        synthetic_bin, tiny_space_yml, "--dropout", "0", "--sandwich-random", "1", "--inplace-distill", "0.3")
    _, sample_size, log = task.train_step(sample, model, criterion, optimizer, update_num=4)
    assert sample_size == sample["ntokens"]  # the batch counts once, whatever the number of members
    target = sample["target"]
    mask = target.ne(task.target_dictionary.pad())
    lprobs = {}
    with torch.no_grad():
        for role, config in sandwich_configs(task.space, 4, 1).items():
            model.set_sample_config(config)
            lprobs[role] = torch.log_softmax(model(**sample["net_input"])[0].double(), dim=-1)
    teacher = lprobs["largest"]
    kls = [kl_sum(teacher, lprobs[role], mask) for role in ("smallest", "random1")]
    assert min(kls) > 0.01  # the students differ from the teacher
    assert float(log["distill_loss"]) == pytest.approx(float(sum(kls) / 2), rel=1e-5)
    # the teacher keeps the label-smoothed label loss
    largest, _ = label_smoothed_nll_loss(teacher.view(-1, teacher.size(-1)), target.view(-1), 0.1,
                                         ignore_index=task.target_dictionary.pad())
    assert float(log["largest_loss_sum"]) == pytest.approx(float(largest), rel=1e-5)


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_one_sandwich_update_is_the_sum_of_its_subtransformers_gradients(synthetic_bin, tiny_space_yml, weight):
    """Each member's gradient computed on its own (same weights, batch and dropout draws), with the distillation
    term computed here from the teacher's detached distribution, summed."""
    task, model, criterion, optimizer, sample = tiny_training(synthetic_bin, tiny_space_yml, "--sandwich-random", "2",
                                                              "--inplace-distill", str(weight))
    torch.manual_seed(11)
    task.train_step(sample, model, criterion, optimizer, update_num=3)
    params = dict(model.named_parameters())
    mask = sample["target"].ne(task.target_dictionary.pad())
    expected = {name: torch.zeros_like(p) for name, p in params.items()}
    torch.manual_seed(11)
    teacher = None
    for config in sandwich_configs(task.space, 3, 2).values():
        model.set_sample_config(config)
        net_output = model(**sample["net_input"])
        loss, _ = criterion.compute_loss(model, net_output, sample)
        lprobs = torch.log_softmax(net_output[0].float(), dim=-1)
        if teacher is None:
            teacher = lprobs.detach()
        elif weight:
            loss = (1 - weight) * loss + weight * kl_sum(teacher, lprobs, mask)
        grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
        for name, grad in zip(params, grads):
            if grad is not None:
                expected[name] += grad
    for name, p in params.items():
        assert p.grad is not None, name
        torch.testing.assert_close(p.grad, expected[name], rtol=0, atol=1e-6, msg=name)
    assert sum(float(g.abs().sum()) for g in expected.values()) > 1.0


def test_inplace_distill_without_the_sandwich_is_one_error_line(synthetic_bin, tiny_space_yml, tmp_path, capsys):
    argv = train_cmd(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "1", "--inplace-distill", "0.5")
    assert assert_user_error(run_in_process(capsys, main, argv[2:])) == (
        "error: --inplace-distill needs --sandwich-random N: its teacher, the largest SubTransformer, "
        "is only computed in a sandwich update")
    assert not list((tmp_path / "ckpt").glob("checkpoint*.pt"))


@pytest.mark.parametrize("options,message", [
    ({"sandwich_random": -1}, "--sandwich-random -1"),
    ({"sandwich_random": 1, "inplace_distill": 1.5}, "between 0 and 1"),
    ({"sandwich_random": 1, "train_subtransformer": True}, "--train-subtransformer"),
])
def test_sandwich_options_that_cannot_work_are_config_errors(options, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        check_sandwich_options(TranslationSuperTransformerConfig(**options))
    check_sandwich_options(TranslationSuperTransformerConfig(sandwich_random=3, inplace_distill=1.0))  # BigNAS's


def test_two_cpu_workers_train_the_same_sandwich(synthetic_bin, tiny_space_yml, tmp_path):
    logs = train_on_two_workers(synthetic_bin, tiny_space_yml, tmp_path / "ckpt", "--max-update", "3",
                                "--update-freq", "2", "--sandwich-random", "1", "--inplace-distill", "0.5",
                                "--disable-validation")
    members = [logged_members(log) for log in logs]
    space = space_of(tiny_space_yml)
    assert sorted(members[0]) == [0, 1, 2] and members[0] == members[1]
    assert all(members[0][n] == sandwich_configs(space, n, 1) for n in members[0])
    # every member of every update on both micro-batches of both ranks, then one step per update
    assert all(log.count(f"update {n} {role} SubTransformer") == 2 for log in logs for n in range(3)
               for role in ("largest", "smallest", "random1"))
    assert '"distill_loss"' in logs[0] and "done training" in logs[0]
