"""The routing-data benchmarks (11 escalation, 12 learning) without the data: where they look for
it, the result they give when it is not there, and their entry point; the learned scores they share."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bench import _routing_data, escalation, learning
from bench._common import REPO


def test_the_data_is_the_argument_else_the_environment_else_beside_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("HYBRIDLSP_ROUTING_DATA", raising=False)
    assert _routing_data.data_dir([]) == REPO.parent / "shared" / "routing-data"
    monkeypatch.setenv("HYBRIDLSP_ROUTING_DATA", str(tmp_path / "env"))
    assert _routing_data.data_dir(None) == tmp_path / "env"
    assert _routing_data.data_dir([str(tmp_path / "arg")]) == tmp_path / "arg"


@pytest.mark.parametrize("module, headline", [
    (escalation, "[11] escalation signals: not measured"),
    (learning, "[12] learning from the user: not measured"),
])
def test_without_the_data_a_benchmark_is_not_measured_and_says_where_it_looked(tmp_path, module, headline):
    result = module.run([str(tmp_path)])
    assert result.met is None and result.verdict == "not measured"
    text = result.render()
    assert text.startswith(headline + "\n")
    assert f"no routing data at {tmp_path} (set HYBRIDLSP_ROUTING_DATA)" in text


def test_run_as_a_module_it_prints_its_one_result(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench.learning", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("[12] learning from the user: not measured\n")


def test_learned_scores_keep_the_order_and_abstain_as_none():
    prompts = ["Rename this variable.", "Design a sharded, replicated log with exactly-once delivery.", ""]
    scores = _routing_data.learned_scores(iter(prompts))
    assert len(scores) == len(prompts)
    assert all(s is None or 0.0 <= s <= 1.0 for s in scores)
    assert [_routing_data.learned_scores([p])[0] for p in prompts] == scores
