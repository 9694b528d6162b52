"""Ollama's native API: POST /api/chat streamed as NDJSON; /api/tags and /api/ps for health.

Plain httpx rather than the `ollama` package, like the cloud backends: the dispatcher owns the one
timeout and retry policy, and closing our response is what stops generation on cancel.
"""

from __future__ import annotations

from typing import AsyncIterator

import httpx

from ..config import Settings
from ..errors import BackendError, StreamBroken
from ._http import FIX_BROKEN, Upstream, error_for_message, load_json
from .base import ChatRequest, Chunk, Health, Usage

__all__ = ["OllamaBackend"]


class OllamaBackend:
    name = "ollama"

    def __init__(self, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None):
        cfg = settings.backends.ollama
        self.host = cfg.host
        self.keep_alive = cfg.keep_alive
        self._http = Upstream(
            self.name,
            cfg.host,
            settings,
            unavailable_fix=f"start Ollama (`ollama serve`) or set OLLAMA_HOST (now {cfg.host})",
            bad_request_fix="pull the model with `ollama pull MODEL`, or check tiers.*.model",
            transport=transport,
            # A local model server is never reached through an HTTP proxy from the environment.
            trust_env=False,
        )

    def _body(self, request: ChatRequest) -> dict:
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
        if request.json_schema is not None:
            body["format"] = request.json_schema
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        async with self._http.stream("/api/chat", self._body(request)) as response:
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                data = load_json(self.name, line)
                if data.get("error"):  # Ollama reports failures after a 200 as an {"error": ...} line
                    raise error_for_message(self.name, 500, str(data["error"]))
                text = (data.get("message") or {}).get("content") or ""
                if text:
                    yield Chunk(text=text)
                if data.get("done"):
                    # prompt_eval_count is left out when the whole prompt came from Ollama's cache.
                    yield Chunk(usage=Usage(int(data.get("prompt_eval_count") or 0), int(data.get("eval_count") or 0)))
                    return
        raise StreamBroken(self.name, "stream ended before the final `done` line", FIX_BROKEN)

    async def health(self) -> Health:
        try:
            tags = await self._http.get_json("/api/tags")
            ps = await self._http.get_json("/api/ps")
        except BackendError as e:
            return Health(reachable=False, detail=e.detail, fixes=(e.fix,) if e.fix else ())
        models = tuple(m.get("name") or m.get("model", "") for m in tags.get("models", []))
        loaded = tuple(m.get("name") or m.get("model", "") for m in ps.get("models", []))
        return Health(
            reachable=True,
            detail=f"{self.host}: {len(models)} pulled, {len(loaded)} loaded",
            models=models,
            loaded=loaded,
        )

    async def aclose(self) -> None:
        await self._http.aclose()
