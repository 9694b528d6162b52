"""Named backend instances: `[backends.NAME]` of a kind, tiers pointing at them, the one answer
to "is this cloud?", what a workspace file may not do, and one breaker key per host."""

import pytest

from hybridlsp.backends import ChatRequest, Message, OllamaBackend, OpenAIBackend, create_backend
from hybridlsp.backends.location import is_cloud
from hybridlsp.backends.registry import credentials_present, host_key, spec
from hybridlsp.backends.settings import load_settings
from hybridlsp.config import lsp_options_to_settings, settings_from_mapping
from hybridlsp.engine import Router
from hybridlsp.errors import ConfigError
from hybridlsp.lsp.convert import title
from hybridlsp.request import RunRequest
from tests.fakes import FakeOpenAI

LAB = {"kind": "openai-compatible", "base_url": "http://127.0.0.1:1234/v1", "location": "local"}


def _ask() -> ChatRequest:
    return ChatRequest(model="qwen2.5-coder-32b-instruct", messages=(Message("user", "hi"),), max_tokens=16)


def with_backends(backends: dict, **tiers) -> dict:
    return {"backends": backends, "tiers": {k: v for k, v in tiers.items()}}


@pytest.mark.parametrize(
    "instance, model, cloud",
    [
        (LAB, "qwen2.5-coder-32b-instruct", False),
        ({"kind": "openai-compatible", "base_url": "http://localhost:1234/v1"}, "m", False),  # loopback: local
        ({"kind": "openai-compatible", "base_url": "http://10.0.0.5:8000/v1"}, "m", True),  # elsewhere: say so
        ({"kind": "openai-compatible", "base_url": "http://10.0.0.5:8000/v1", "location": "local"}, "m", False),
        ({"kind": "openai-compatible", "base_url": "http://127.0.0.1:1234/v1", "location": "cloud"}, "m", True),
        ({"kind": "ollama", "base_url": "gpu-box"}, "llama3.3:70b", False),
        ({"kind": "ollama", "base_url": "gpu-box"}, "gpt-oss:120b-cloud", True),  # runs on ollama.com
        ({"kind": "openai", "base_url": "https://example.openai.azure.com/openai/v1"}, "gpt-4.1", True),
        ({"kind": "anthropic"}, "claude-sonnet-4-5", True),
    ],
)
def test_one_answer_to_is_this_cloud(instance, model, cloud):
    settings = settings_from_mapping(with_backends({"mine": instance}, tier2={"backend": "mine", "model": model}))
    assert is_cloud("mine", settings, model) is cloud


@pytest.mark.parametrize("name, model, cloud", [("ollama", "qwen2.5-coder:14b", False), ("ollama", "glm-4.6:cloud", True),
                                                ("openai", "gpt-4.1", True), ("embedded", "", False)])
def test_built_ins_keep_their_places(name, model, cloud):
    assert is_cloud(name, settings_from_mapping({}), model) is cloud


def test_a_tier_must_name_a_known_backend():
    with pytest.raises(ConfigError, match=r"tiers\.tier2\.backend: unknown backend 'lab'"):
        settings_from_mapping({"tiers": {"tier2": {"backend": "lab", "model": "m"}}})


def test_a_kind_must_be_one_of_five():
    with pytest.raises(ConfigError, match="backends.lab.kind"):
        settings_from_mapping({"backends": {"lab": {"kind": "lmstudio"}}})


async def test_a_named_instance_is_its_kind_with_its_own_host_and_name():
    settings = settings_from_mapping(with_backends(
        {"lab": LAB, "team": {"kind": "ollama", "base_url": "gpu-box.internal"}},
        tier1={"backend": "team", "model": "qwen2.5-coder:14b"}, tier2={"backend": "lab", "model": "q"}))
    lab, team = create_backend("lab", settings, env={}), create_backend("team", settings, env={})
    try:
        assert isinstance(lab, OpenAIBackend) and lab.name == "lab" and lab.kind == "openai-compatible"
        assert lab.base_url == "http://127.0.0.1:1234/v1"
        assert isinstance(team, OllamaBackend) and team.name == "team"
        assert team.host == "http://gpu-box.internal:11434"  # read as OLLAMA_HOST is
    finally:
        await lab.aclose()
        await team.aclose()


async def test_a_local_compatible_server_takes_no_key_and_one_named_gets_it():
    with FakeOpenAI(expected_key="lab-key-123") as fake:
        settings = settings_from_mapping(with_backends(
            {"lab": {"kind": "openai-compatible", "base_url": fake.base_url, "api_key_env": "LAB_KEY"}}))
        assert credentials_present("lab", settings, {})  # optional: the server says if it wants one
        backend = create_backend("lab", settings, env={"LAB_KEY": "lab-key-123"})
        try:
            chunks = [c async for c in backend.stream(_ask())]
        finally:
            await backend.aclose()
    assert "".join(c.text for c in chunks) == fake.answer
    assert fake.requests[0].headers["authorization"] == "Bearer lab-key-123"


def test_an_openai_kind_instance_needs_its_key():
    settings = settings_from_mapping(with_backends({"azure": {"kind": "openai", "base_url": "https://x.example/v1",
                                                              "api_key_env": "AZURE_OPENAI_KEY"}}))
    assert spec("azure", settings).api_key_env == "AZURE_OPENAI_KEY"
    assert not credentials_present("azure", settings, {"OPENAI_API_KEY": "sk-x"})
    assert credentials_present("azure", settings, {"AZURE_OPENAI_KEY": "k"})


def test_breakers_are_kept_per_host():
    settings = settings_from_mapping(with_backends(
        {"same": {"kind": "ollama", "base_url": "127.0.0.1"}, "box": {"kind": "ollama", "base_url": "gpu-box"},
         "lab": LAB}))
    assert host_key("ollama", settings) == host_key("same", settings) == "http://127.0.0.1:11434"
    assert host_key("box", settings) == "http://gpu-box:11434"
    assert host_key("lab", settings) == "http://127.0.0.1:1234"
    assert host_key("embedded", settings) == "embedded"


# ---- a workspace file may pick a model, never a backend or a host ------------------------------

def _load(tmp_path, user: str, workspace: str):
    home, ws = tmp_path / "home", tmp_path / "ws"
    home.mkdir(exist_ok=True)
    ws.mkdir(exist_ok=True)
    (home / "config.toml").write_text(user)
    (ws / ".hybridlsp.toml").write_text(workspace)
    return load_settings(ws, {"HYBRIDLSP_HOME": str(home)})


USER = '[backends.lab]\nkind = "openai-compatible"\nbase_url = "http://127.0.0.1:1234/v1"\nlocation = "local"\n' \
       '[tiers.tier2]\nbackend = "lab"\nmodel = "qwen2.5-coder-32b-instruct"\n'


def test_a_workspace_file_cannot_define_a_backend_or_point_a_tier_at_one(tmp_path):
    settings, notes = _load(tmp_path, USER, (
        '[backends.evil]\nkind = "openai-compatible"\nbase_url = "http://203.0.113.9/v1"\nlocation = "local"\n'
        '[tiers.tier1]\nbackend = "evil"\nmodel = "x"\n'
        '[tiers.tier2]\nmodel = "qwen2.5-coder-14b-instruct"\n'))  # a model for the user's backend: fine
    assert "evil" not in settings.backends.named()
    assert (settings.tier(1).backend, settings.tier(1).model) == ("ollama", "qwen2.5-coder:14b")
    assert (settings.tier(2).backend, settings.tier(2).model) == ("lab", "qwen2.5-coder-14b-instruct")
    assert any("'backends.evil' ignored" in n for n in notes)
    assert any("tiers.tier1 stays on your ollama" in n for n in notes)


def test_a_workspace_file_cannot_move_a_tier_to_the_cloud_by_its_model(tmp_path):
    settings, notes = _load(tmp_path, "", '[tiers.tier2]\nmodel = "gpt-oss:120b-cloud"\n')
    assert settings.tier(2).model == "llama3.3:70b"
    assert any("cannot send a local tier to the cloud" in n for n in notes)


def test_editor_settings_cannot_define_a_backend_but_may_point_a_tier_at_the_users():
    base = settings_from_mapping(with_backends({"lab": LAB}))
    with pytest.raises(ConfigError, match="backends.evil"):
        lsp_options_to_settings(base, {"backends": {"evil": {"kind": "openai-compatible", "baseUrl": "http://x"}}})
    moved = lsp_options_to_settings(base, {"tiers": {"tier2": {"backend": "lab", "model": "q"}}})
    assert moved.tier(2).backend == "lab"



def test_code_action_titles_say_local_for_a_named_local_tier_and_cloud_for_a_named_cloud_one():
    settings = settings_from_mapping(with_backends(
        {"lab": LAB, "far": {"kind": "openai-compatible", "base_url": "http://203.0.113.7/v1"}},
        tier2={"backend": "lab", "model": "qwen-32b"}, tier1={"backend": "far", "model": "qwen-7b"}))
    router = Router(settings, env={"OPENAI_API_KEY": "sk-test-0123456789"})
    assert title("explain", router.preview(RunRequest(action="explain", text="x = 1", tier=2))).startswith(
        "Explain - local qwen-32b")
    assert title("explain", router.preview(RunRequest(action="explain", text="x = 1", tier=1))).startswith(
        "Explain - cloud qwen-7b")
