"""OpenAI-compatible POST /chat/completions streamed as server-sent events; GET /models for health.

Plain httpx rather than the `openai` SDK, on purpose: the SDK retries on its own, which would hide
how many requests were really sent from the dispatcher that owns the one timeout/retry policy; and
we need to close the stream ourselves so a cancelled request stops upstream generation at once.

Two kinds share this wire format: `openai` (OpenAI's API, a key always needed) and
`openai-compatible` (LM Studio, llama.cpp's server, vLLM, ...: a key only if `api_key_env` names one).
Reasoning models differ per family: OpenAI's o-series and gpt-5 take no temperature or stop and
count their reasoning inside `max_completion_tokens`; compatible servers stream a thinking model's
reasoning as `reasoning_content` (vLLM, llama.cpp) or `reasoning` (OpenRouter, Ollama's /v1), or
leave `<think>` inline in the content.
"""

from __future__ import annotations

import re
from typing import AsyncIterator, Mapping

import httpx

from ..config import Settings
from ..errors import BackendError, StreamBroken
from ._cloud import ApiKey, cloud_upstream
from ._http import FIX_BROKEN, SSEDecoder, error_for_message, iter_lines, load_json, read_to_end, token_logprobs
from ._reasoning import ThinkSplitter
from .base import FINISH_FILTERED, FINISH_LENGTH, FINISH_REFUSAL, FINISH_STOP, ChatRequest, Chunk, Health, Usage

__all__ = ["OpenAIBackend", "is_reasoning_model"]

_REASONING = re.compile(r"(o\d|gpt-5)([-.]|$)")
_FINISH = {"length": FINISH_LENGTH, "content_filter": FINISH_FILTERED}


def is_reasoning_model(model: str) -> bool:
    """OpenAI's reasoning families (o1, o3, o4-mini, gpt-5, ...), by name; gpt-5-chat is not one."""
    name = model.rsplit("/", 1)[-1].lower()
    return bool(_REASONING.match(name)) and "-chat" not in name


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        settings: Settings,
        *,
        env: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        name: str = "openai",
        kind: str = "openai",
        base_url: str | None = None,
        api_key_env: str | None = None,
    ):
        cfg = settings.backends.openai
        self.name = name
        self.kind = kind
        self.base_url = base_url if base_url is not None else cfg.base_url
        self.key_env = api_key_env if api_key_env is not None else cfg.api_key_env
        # a compatible server on your own machine or network usually takes no key at all
        self._key = ApiKey(self.name, self.key_env, env, required=kind == "openai")
        self._http = cloud_upstream(self.name, self.base_url, self.key_env, settings, transport)
        self._official = httpx.URL(self.base_url).host == "api.openai.com"

    def _body(self, request: ChatRequest) -> dict:
        body: dict = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.kind == "openai" and is_reasoning_model(request.model):
            # temperature, stop and logprobs are refused (HTTP 400); the budget covers reasoning and answer
            body["max_completion_tokens"] = request.max_tokens
            if not request.think:
                body["reasoning_effort"] = "low"
        else:
            # OpenAI's own API wants max_completion_tokens (newer models refuse max_tokens);
            # most compatible servers (vLLM, llama.cpp, LM Studio) only know max_tokens.
            body["max_completion_tokens" if self._official else "max_tokens"] = request.max_tokens
            body["temperature"] = request.temperature
            if request.stop:
                body["stop"] = list(request.stop)
            if self.kind == "openai-compatible" and not request.think:
                # vLLM, SGLang and llama.cpp's server pass this to the chat template: Qwen3 and
                # other hybrid thinkers then answer at once. Servers that do not know it ignore it.
                body["chat_template_kwargs"] = {"enable_thinking": False}
            if request.logprobs:
                body["logprobs"] = True
        if request.json_schema is not None:
            # strict mode would reject schemas that do not list every property as required.
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": request.json_schema, "strict": False},
            }
        return body

    async def will_think(self, request: ChatRequest) -> bool:
        if self.kind == "openai":
            return is_reasoning_model(request.model)  # o-series and gpt-5 reason even at "low"
        return request.think  # a compatible server's model may be a thinker: leave it the room

    def _headers(self) -> tuple[dict[str, str], tuple[str, ...]]:
        key = self._key.get()
        return ({"authorization": f"Bearer {key}"}, (key,)) if key else ({}, ())

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        headers, secrets = self._headers()
        decoder = SSEDecoder()
        split = ThinkSplitter()
        finish, refusal, usage = FINISH_STOP, [], None
        async with self._http.stream("/chat/completions", self._body(request), headers, secrets) as response:
            lines = iter_lines(response)
            async for line in lines:
                event = decoder.feed(line)
                if event is None:
                    continue
                if event[1].strip() == "[DONE]":
                    text, thought = split.flush()
                    if text or thought:
                        yield Chunk(text=text, thinking=thought)
                    if refusal:
                        finish = FINISH_REFUSAL
                    yield Chunk(usage=usage, finish=finish, detail="".join(refusal))
                    await read_to_end(lines)
                    return
                data = load_json(self.name, event[1])
                if data.get("error"):  # an error after the 200 arrives as a data event
                    err = data["error"] if isinstance(data["error"], dict) else {"message": str(data["error"])}
                    status = 429 if err.get("code") == "rate_limit_exceeded" else 500
                    raise error_for_message(self.name, status, str(err.get("message", "")), secrets)
                for choice in data.get("choices") or ():
                    delta = choice.get("delta") or {}
                    text, thought = split.feed(delta.get("content") or "")
                    thought = (delta.get("reasoning_content") or delta.get("reasoning") or "") + thought
                    if text or thought:
                        # a thinking token's probability says nothing about the answer
                        lp = token_logprobs((choice.get("logprobs") or {}).get("content")) if text else ()
                        yield Chunk(text=text, thinking=thought, logprobs=lp)
                    if delta.get("refusal"):
                        refusal.append(delta["refusal"])
                    if choice.get("finish_reason"):
                        finish = _FINISH.get(choice["finish_reason"], FINISH_STOP)
                raw = data.get("usage")
                if raw:
                    details = raw.get("completion_tokens_details") or {}
                    usage = Usage(
                        int(raw.get("prompt_tokens") or 0),
                        int(raw.get("completion_tokens") or 0),
                        int(details.get("reasoning_tokens") or 0),
                    )
        raise StreamBroken(self.name, "stream ended before `data: [DONE]`", FIX_BROKEN)

    async def health(self) -> Health:
        try:
            headers, secrets = self._headers()
            listing = await self._http.get_json("/models", headers, secrets)
        except BackendError as e:
            return Health(reachable=False, detail=e.detail, fixes=(e.fix,) if e.fix else ())
        models = tuple(sorted(m.get("id", "") for m in listing.get("data", [])))
        return Health(reachable=True, detail=f"{self.base_url}: {len(models)} models", models=models)

    async def aclose(self) -> None:
        await self._http.aclose()
