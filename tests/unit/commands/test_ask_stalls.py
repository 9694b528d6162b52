"""`hybridlsp ask` when the tier streaming the answer stalls half-way: the command says on stderr
that the streamed part is dropped and which tier answers instead, and the other tier's answer
follows on stdout. Run in-process against fake upstreams on 127.0.0.1."""

import pytest

from hybridlsp.commands import main
from tests.fakes.upstreams import FakeOllama, FakeOpenAI

OLLAMA_SAYS = "The build is green and every test passes on the first try today."
CLOUD_SAYS = "Cloud says the build is green."


@pytest.fixture
def upstreams(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(
        "[embedded]\nenabled = false\n[cache]\nenabled = false\n"
        "[dispatch]\nread_timeout_s = 0.3\nfirst_token_timeout_s = 2\nconnect_timeout_s = 1\n"
    )
    loaded = ("qwen2.5-coder:14b", "llama3.3:70b")
    with FakeOllama(answer=OLLAMA_SAYS, loaded=loaded) as ollama, FakeOpenAI(answer=CLOUD_SAYS) as cloud:
        for name, value in {"HYBRIDLSP_HOME": str(home), "OLLAMA_HOST": ollama.url,
                            "OPENAI_BASE_URL": cloud.base_url, "OPENAI_API_KEY": "sk-test-" + "x" * 20}.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("HYBRIDLSP_CONFIG", raising=False)
        monkeypatch.chdir(tmp_path)
        yield ollama, cloud


def test_a_stalled_stream_is_dropped_and_the_next_tier_named(upstreams, capsys):
    ollama, cloud = upstreams
    ollama.inject("stall")
    assert main(["ask", "Summarize: the build is green."]) == 0
    cap = capsys.readouterr()
    partial, _, answer = cap.out.partition("\n")
    assert partial and OLLAMA_SAYS.startswith(partial) and partial != OLLAMA_SAYS  # what streamed, cut
    assert answer.strip() == CLOUD_SAYS
    notice = [line for line in cap.err.splitlines() if line.startswith("hybridlsp: the partial answer")]
    assert len(notice) == 1, cap.err
    assert "dropped" in notice[0] and "tier1:ollama/qwen2.5-coder:14b timeout: the stream went silent" in notice[0]
    assert "escalating to tier3:openai/gpt-4.1, which answers instead" in notice[0]
    # tier 2 is on the same Ollama: not asked, and the summary says so
    assert ollama.request_count == 1 and cloud.request_count == 1
    assert "fallback tier2:ollama/llama3.3:70b -> tier3:openai/gpt-4.1: host-down" in cap.err
