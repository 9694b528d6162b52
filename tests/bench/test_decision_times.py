"""bench/code_action.py's decision timing: one `ask` decision per prompt, for every estimate."""

from bench.code_action import ESTIMATORS, WARMUP, decision_times


def test_one_time_per_prompt_for_each_estimate():
    prompts = [f"Explain step {i} of merging two sorted lists, and why it keeps the order stable." for i in
               range(WARMUP + 10)]
    got = decision_times(prompts)
    assert list(got) == list(ESTIMATORS)
    assert all(len(v) == len(prompts) and min(v) > 0 for v in got.values())


def test_the_handler_timing_runs_the_code_action_handler(tmp_path):
    """bench 4's in-process timing: the handler with the state `initialize` gives it answers four actions."""
    from tests.e2e.bench_code_action import handler_only, source

    times = handler_only(3, source(), tmp_path)
    assert len(times) == 3 and min(times) > 0
