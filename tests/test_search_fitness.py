"""The search's fitness is scored on the original's validation batches (`fairseq/evolution.py`, `validate_all`)."""
from fairseq import utils

from conftest import assert_user_error, run_in_process

VALID_CNT_MAX = 2


def search_argv(net, *extra):
    return [str(net["data"]), f"--configs={net['space_yml']}", "--cpu", "--restore-file", str(net["ckpt"]),
            "--ckpt-path", str(net["predictor"]), "--write-config-path", str(net["root"] / "unused.yml"), "--latency-constraint", "25",
            "--max-tokens", "600", *extra]


def fitness_of(net, *extra):
    from hat.config_args import parse_config_args
    from hat.search.runner import CONFIG_FLAGS, build_fitness, get_parser, setup

    args = parse_config_args(get_parser(), search_argv(net, *extra), CONFIG_FLAGS)
    model = setup(args).model
    return args, model, build_fitness(args, model)


def fairseq_batch_ids(args, model, required_batch_size_multiple, skip_invalid_size=False, batches=VALID_CNT_MAX):
    """Sentence ids of the first batches of fairseq's own validation iterator, built as the original's
    ``validate_all`` builds it."""
    from fairseq import tasks

    task = tasks.setup_task(args)
    task.load_dataset("valid", combine=False, epoch=1)
    iterator = task.get_batch_iterator(
        dataset=task.dataset("valid"), max_tokens=args.max_tokens_valid, max_sentences=args.batch_size_valid,
        max_positions=utils.resolve_max_positions(task.max_positions(), model.max_positions()),
        ignore_invalid_inputs=skip_invalid_size, required_batch_size_multiple=required_batch_size_multiple, seed=args.seed,
        num_shards=1, shard_id=0, num_workers=0).next_epoch_itr(shuffle=False)
    return [batch["id"].tolist() for _, batch in zip(range(batches), iterator)]


def test_the_fitness_scores_the_originals_first_validation_batches(trained_supernet):
    # batches of about a dozen sentences: a multiple of 8 cuts them where a multiple of 1 does not
    args, model, fitness = fitness_of(trained_supernet, "--max-tokens-valid", "120",
                                      "--valid-cnt-max", str(VALID_CNT_MAX))
    assert args.required_batch_size_multiple == 8 and args.skip_invalid_size_inputs_valid_test is False
    ours = [batch["id"].tolist() for batch in fitness.batches]
    original = fairseq_batch_ids(args, model, 8)
    assert ours == original and len(ours) == VALID_CNT_MAX
    assert all(len(ids) % 8 == 0 for ids in ours)
    assert original != fairseq_batch_ids(args, model, 1)  # so the comparison above can fail


def test_required_batch_size_multiple_is_taken_from_the_command_line(trained_supernet):
    args, model, fitness = fitness_of(trained_supernet, "--max-tokens-valid", "120", "--valid-cnt-max",
                                      str(VALID_CNT_MAX), "--required-batch-size-multiple", "1")
    assert [batch["id"].tolist() for batch in fitness.batches] == fairseq_batch_ids(args, model, 1)


def test_a_too_long_validation_sentence_is_one_clear_error_unless_skipped(trained_supernet, capsys):
    from hat.cli.evo_search import main

    proc = run_in_process(capsys, main, search_argv(trained_supernet, "--max-source-positions", "6"))
    assert_user_error(proc, "valid split", "--skip-invalid-size-inputs-valid-test")

    # with the flag, those sentences are left out of the batches, as the original's iterator leaves them out
    args, model, fitness = fitness_of(trained_supernet, "--max-source-positions", "6",
                                      "--skip-invalid-size-inputs-valid-test")
    ours = [batch["id"].tolist() for batch in fitness.batches]
    assert 0 < sum(map(len, ours)) < 40 and ours == fairseq_batch_ids(args, model, 8, True, 10 ** 9)
