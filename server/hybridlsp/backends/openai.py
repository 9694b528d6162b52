"""OpenAI-compatible POST /chat/completions streamed as server-sent events; GET /models for health.

Plain httpx rather than the `openai` SDK, on purpose: the SDK retries on its own, which would hide
how many requests were really sent from the dispatcher that owns the one timeout/retry policy; and
we need to close the stream ourselves so a cancelled request stops upstream generation at once.
"""

from __future__ import annotations

from typing import AsyncIterator, Mapping

import httpx

from ..config import Settings
from ..errors import BackendError, StreamBroken
from ._cloud import ApiKey, cloud_upstream
from ._http import FIX_BROKEN, SSEDecoder, error_for_message, load_json, token_logprobs
from .base import ChatRequest, Chunk, Health, Usage

__all__ = ["OpenAIBackend"]


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        settings: Settings,
        *,
        env: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        cfg = settings.backends.openai
        self.base_url = cfg.base_url
        self.key_env = cfg.api_key_env
        self._key = ApiKey(self.name, self.key_env, env)
        self._http = cloud_upstream(self.name, cfg.base_url, self.key_env, settings, transport)
        # OpenAI's own API wants max_completion_tokens (newer models refuse max_tokens);
        # most compatible servers (vLLM, llama.cpp, LM Studio) only know max_tokens.
        self._max_tokens_field = (
            "max_completion_tokens" if httpx.URL(cfg.base_url).host == "api.openai.com" else "max_tokens"
        )

    def _body(self, request: ChatRequest) -> dict:
        body: dict = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
            self._max_tokens_field: request.max_tokens,
            "temperature": request.temperature,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.logprobs:
            body["logprobs"] = True
        if request.json_schema is not None:
            # strict mode would reject schemas that do not list every property as required.
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema, "strict": False},
            }
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        key = self._key.get()
        headers = {"authorization": f"Bearer {key}"}
        decoder = SSEDecoder()
        async with self._http.stream("/chat/completions", self._body(request), headers, (key,)) as response:
            async for line in response.aiter_lines():
                event = decoder.feed(line)
                if event is None:
                    continue
                if event[1].strip() == "[DONE]":
                    return
                data = load_json(self.name, event[1])
                if data.get("error"):  # an error after the 200 arrives as a data event
                    err = data["error"] if isinstance(data["error"], dict) else {"message": str(data["error"])}
                    status = 429 if err.get("code") == "rate_limit_exceeded" else 500
                    raise error_for_message(self.name, status, str(err.get("message", "")), (key,))
                for choice in data.get("choices") or ():
                    text = (choice.get("delta") or {}).get("content") or ""
                    if text:
                        yield Chunk(text=text, logprobs=token_logprobs((choice.get("logprobs") or {}).get("content")))
                usage = data.get("usage")
                if usage:
                    yield Chunk(
                        usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))
                    )
        raise StreamBroken(self.name, "stream ended before `data: [DONE]`", FIX_BROKEN)

    async def health(self) -> Health:
        try:
            key = self._key.get()
            listing = await self._http.get_json("/models", {"authorization": f"Bearer {key}"}, (key,))
        except BackendError as e:
            return Health(reachable=False, detail=e.detail, fixes=(e.fix,) if e.fix else ())
        models = tuple(sorted(m.get("id", "") for m in listing.get("data", [])))
        return Health(reachable=True, detail=f"{self.base_url}: {len(models)} models", models=models)

    async def aclose(self) -> None:
        await self._http.aclose()
