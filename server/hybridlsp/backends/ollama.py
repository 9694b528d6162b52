"""Ollama's native API: POST /api/chat streamed as NDJSON; /api/tags, /api/ps, /api/show for health.

Plain httpx rather than the `ollama` package, like the cloud backends: the dispatcher owns the one
timeout and retry policy, and closing our response is what stops generation on cancel.

A model that is not loaded yet answers its first token only after loading (a minute or more for a
70B from disk), so before a chat /api/ps is asked what is loaded (`LoadedModels`, its answer reused
for `dispatch.loaded_cache_s`): a cold model's first token gets `dispatch.cold_load_s` more, a warm
one's does not.

Thinking: current Ollama thinks by default with a thinking model (qwen3, deepseek-r1, gpt-oss, ...)
and puts the reasoning in `message.thinking`. `think: false` is safe for every model; `think: true`
(or a level) makes a model without the "thinking" capability answer HTTP 400, so it is sent only
after /api/show listed that capability. gpt-oss cannot turn thinking off and takes a level
instead, so "off" is "low" there.
"""

from __future__ import annotations

import asyncio
from typing import AsyncIterator

import httpx

from ..config import Settings
from ..errors import BackendError, BackendTimeout, BackendUnavailable, BadRequest, ServerError, StreamBroken
from ._hosts import DEFAULT_PORT, ollama_base_url, runs_in_cloud
from ._http import (FIX_BROKEN, StreamLimits, Upstream, error_for_message, iter_lines, load_json, read_to_end,
                    token_logprobs)
from ._reasoning import ThinkSplitter
from .base import FINISH_LENGTH, FINISH_STOP, ChatRequest, Chunk, Health, Usage

__all__ = ["OllamaBackend", "LoadedModels", "ollama_base_url", "runs_in_cloud", "DEFAULT_PORT"]

# Families whose thinking cannot be turned off, only made shorter (`think` takes a level).
_LEVEL_ONLY = ("gpt-oss",)


def _family(model: str) -> str:
    return model.rsplit("/", 1)[-1].split(":", 1)[0].lower()


def _tagged(model: str) -> str:
    """Ollama's name for a model: `llama3.3` is `llama3.3:latest`."""
    return model if ":" in model.rsplit("/", 1)[-1] else model + ":latest"


class LoadedModels:
    """What /api/ps says is in memory, asked at most once per `ttl_s`."""

    def __init__(self, http: Upstream, ttl_s: float, probe_timeout_s: float):
        self._http = http
        self.ttl_s = ttl_s
        self.probe_timeout_s = probe_timeout_s
        self._names: frozenset[str] | None = None
        self._asked_at = 0.0
        self._lock = asyncio.Lock()

    def remember(self, names) -> None:
        self._names = frozenset(_tagged(n) for n in names if n)
        self._asked_at = asyncio.get_running_loop().time()

    def mark_loaded(self, model: str) -> None:
        """A model that has answered is in memory now, whatever the last /api/ps said."""
        name = _tagged(model)
        if self._names is not None and name not in self._names:
            self._names = self._names | {name}

    async def is_loaded(self, model: str) -> bool | None:
        """True / False as /api/ps says; None when this server does not answer it usefully.

        A refused connection, no answer within `probe_timeout_s`, or a 5xx is raised: the chat
        would fail the same way, so the dispatcher hears it now, not after a first-token limit."""
        async with self._lock:
            now = asyncio.get_running_loop().time()
            if self._names is None or now - self._asked_at > self.ttl_s:
                try:
                    ps = await self._http.get_json("/api/ps", timeout_s=self.probe_timeout_s)
                except (BackendUnavailable, BackendTimeout, ServerError):
                    raise
                except BackendError:
                    return None  # a server that speaks /api/chat but not /api/ps
                models = ps.get("models") if isinstance(ps, dict) else None
                if not isinstance(models, list):
                    return None
                self.remember(m.get("name") or m.get("model", "") for m in models if isinstance(m, dict))
            return _tagged(model) in self._names


class OllamaBackend:
    name = "ollama"

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        name: str = "ollama",
        host: str | None = None,
    ):
        cfg = settings.backends.ollama
        d = settings.dispatch
        self.name = name
        self.host = ollama_base_url(host if host is not None else cfg.host)
        self.keep_alive = cfg.keep_alive
        self.cold_load_s = d.cold_load_s
        # model -> (can think, context length); from /api/show, asked once per model
        self._shown: dict[str, tuple[bool, int | None]] = {}
        self._http = Upstream(
            self.name,
            self.host,
            settings,
            unavailable_fix=f"start Ollama (`ollama serve`) or set OLLAMA_HOST (now {self.host})",
            bad_request_fix="pull the model with `ollama pull MODEL`, or check tiers.*.model",
            transport=transport,
            # A local model server is never reached through an HTTP proxy from the environment.
            trust_env=False,
        )
        self.loaded = LoadedModels(self._http, d.loaded_cache_s, probe_timeout_s=d.connect_timeout_s)

    async def _limits(self, model: str) -> StreamLimits:
        """This request's stream limits: a model not in memory gets its load time for the first token."""
        if not self.cold_load_s:
            return self._http.limits
        loaded = await self.loaded.is_loaded(model)
        return self._http.limits if loaded else self._http.limits.extended(self.cold_load_s)

    async def show(self, model: str) -> tuple[bool, int | None]:
        """(whether `model` can think, its trained context length), cached; (False, None) if unknown."""
        if model not in self._shown:
            try:
                info = await self._http.post_json("/api/show", {"model": model})
            except BadRequest:
                return False, None  # not pulled, or an Ollama without /api/show: the chat says why
            caps = info.get("capabilities") or ()
            ctx = next(
                (int(v) for k, v in (info.get("model_info") or {}).items()
                 if k.endswith(".context_length") and isinstance(v, int)),
                None,
            )
            self._shown[model] = ("thinking" in caps, ctx)
        return self._shown[model]

    async def will_think(self, request: ChatRequest) -> bool:
        if _family(request.model).startswith(_LEVEL_ONLY):
            return True  # "low" still reasons
        return request.think and (await self.show(request.model))[0]

    async def _think(self, request: ChatRequest) -> bool | str | None:
        """The `think` value for this request, or None to leave it out."""
        if _family(request.model).startswith(_LEVEL_ONLY):
            return "medium" if request.think else "low"
        if not request.think:
            return False
        can_think, _ = await self.show(request.model)
        return True if can_think else None

    def _body(self, request: ChatRequest, think: bool | str | None) -> dict:
        options: dict = {"num_predict": request.max_tokens, "temperature": request.temperature}
        if request.num_ctx is not None:
            # Same num_ctx on every call for a model, or Ollama reloads it.
            options["num_ctx"] = request.num_ctx
        if request.stop:
            options["stop"] = list(request.stop)
        body: dict = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "keep_alive": self.keep_alive,
            "options": options,
        }
        if think is not None:
            body["think"] = think
        if request.json_schema is not None:
            body["format"] = request.json_schema
        if request.logprobs:
            body["logprobs"] = True  # Ollama 0.12.11+; an older server ignores the field
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        body = self._body(request, await self._think(request))
        split = ThinkSplitter()  # a model Ollama cannot parse the thinking of writes <think> inline
        limits = await self._limits(request.model)
        async with self._http.stream("/api/chat", body, limits=limits) as response:
            lines = iter_lines(response)
            answered = False
            async for line in lines:
                if not line.strip():
                    continue
                data = load_json(self.name, line)
                if data.get("error"):  # Ollama reports failures after a 200 as an {"error": ...} line
                    raise error_for_message(self.name, 500, str(data["error"]))
                if not answered:  # its first line says the model is in memory; the others, again
                    answered = True
                    self.loaded.mark_loaded(request.model)
                message = data.get("message") or {}
                text, thought = split.feed(message.get("content") or "")
                thought = (message.get("thinking") or "") + thought
                if text or thought:
                    # a thinking token's probability says nothing about the answer
                    lp = token_logprobs(data.get("logprobs")) if text else ()
                    yield Chunk(text=text, thinking=thought, logprobs=lp)
                if data.get("done"):
                    text, thought = split.flush()
                    if text or thought:
                        yield Chunk(text=text, thinking=thought)
                    # eval_count counts every generated token, thinking included. prompt_eval_count
                    # is left out when the whole prompt came from Ollama's cache.
                    usage = Usage(int(data.get("prompt_eval_count") or 0), int(data.get("eval_count") or 0))
                    finish = FINISH_LENGTH if data.get("done_reason") == "length" else FINISH_STOP
                    yield Chunk(usage=usage, finish=finish)
                    await read_to_end(lines)
                    return
        raise StreamBroken(self.name, "stream ended before the final `done` line", FIX_BROKEN)

    async def health(self) -> Health:
        try:
            tags = await self._http.get_json("/api/tags")
            ps = await self._http.get_json("/api/ps")
        except BackendError as e:
            return Health(reachable=False, detail=e.detail, fixes=(e.fix,) if e.fix else ())
        models = tuple(m.get("name") or m.get("model", "") for m in tags.get("models", []))
        running = ps.get("models", [])
        loaded = tuple(m.get("name") or m.get("model", "") for m in running)
        # context_length: the num_ctx a model was loaded with (Ollama 0.11 and later)
        contexts = tuple((name, int(m["context_length"])) for name, m in zip(loaded, running)
                         if isinstance(m.get("context_length"), int))
        self.loaded.remember(loaded)
        return Health(
            reachable=True,
            detail=f"{self.host}: {len(models)} pulled, {len(loaded)} loaded",
            models=models,
            loaded=loaded,
            contexts=contexts,
        )

    async def aclose(self) -> None:
        await self._http.aclose()
