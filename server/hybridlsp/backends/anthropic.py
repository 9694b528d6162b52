"""Anthropic Messages API: POST /v1/messages streamed as server-sent events; GET /v1/models for health.

Plain httpx rather than the `anthropic` SDK, on purpose: the SDK retries on its own, which would hide
how many requests were really sent from the dispatcher that owns the one timeout/retry policy; and
we need to close the stream ourselves so a cancelled request stops upstream generation at once.
"""

from __future__ import annotations

from typing import AsyncIterator, Mapping

import httpx

from ..config import Settings
from ..errors import BackendError, StreamBroken
from ._cloud import ApiKey, cloud_upstream
from ._http import FIX_BROKEN, SSEDecoder, error_for_message, iter_lines, load_json, read_to_end
from ._reasoning import ThinkSplitter
from .base import FINISH_LENGTH, FINISH_REFUSAL, FINISH_STOP, ChatRequest, Chunk, Health, Usage

__all__ = ["AnthropicBackend"]

# In-stream `error` events carry a type instead of a status; map it to the status it stands for.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "overloaded_error": 529,
}

_TOOL = "answer"  # structured output: one forced tool whose input is the answer

# stop_reason -> why the answer ended; end_turn, stop_sequence and tool_use are a whole answer.
_FINISH = {
    "max_tokens": FINISH_LENGTH,
    "model_context_window_exceeded": FINISH_LENGTH,
    "pause_turn": FINISH_LENGTH,  # the model stopped part-way and expects to be asked to go on
    "refusal": FINISH_REFUSAL,
}


class AnthropicBackend:
    name = "anthropic"

    def __init__(
        self,
        settings: Settings,
        *,
        env: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        name: str = "anthropic",
        base_url: str | None = None,
        api_key_env: str | None = None,
    ):
        cfg = settings.backends.anthropic
        self.name = name
        self.base_url = base_url if base_url is not None else cfg.base_url
        self.key_env = api_key_env if api_key_env is not None else cfg.api_key_env
        self.version = cfg.version
        self._key = ApiKey(self.name, self.key_env, env)
        self._http = cloud_upstream(self.name, self.base_url, self.key_env, settings, transport)

    async def will_think(self, request: ChatRequest) -> bool:
        return False  # extended thinking is never turned on

    def _headers(self) -> tuple[dict[str, str], str]:
        key = self._key.get()
        return {"x-api-key": key, "anthropic-version": self.version}, key

    def _body(self, request: ChatRequest) -> dict:
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict = {
            "model": request.model,
            "max_tokens": request.max_tokens,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages if m.role != "system"],
            "stream": True,
            "temperature": request.temperature,
        }
        if system:
            body["system"] = system  # the Messages API has no "system" role inside messages
        if request.stop:
            body["stop_sequences"] = list(request.stop)
        if request.json_schema is not None:
            # Forcing one tool is the documented way to get JSON that follows a schema;
            # its input then streams as input_json_delta pieces of one JSON document.
            body["tools"] = [{"name": _TOOL, "description": "Return the answer.", "input_schema": request.json_schema}]
            body["tool_choice"] = {"type": "tool", "name": _TOOL}
        return body

    async def stream(self, request: ChatRequest) -> AsyncIterator[Chunk]:
        headers, key = self._headers()
        decoder = SSEDecoder()
        input_tokens = output_tokens = 0
        finish = FINISH_STOP
        split = ThinkSplitter()  # Claude never writes <think>, but a proxy in front of another model may
        async with self._http.stream("/v1/messages", self._body(request), headers, (key,)) as response:
            lines = iter_lines(response)
            async for line in lines:
                event = decoder.feed(line)
                if event is None:
                    continue
                data = load_json(self.name, event[1])
                kind = data.get("type", event[0])
                if kind == "message_start":
                    usage = (data.get("message") or {}).get("usage") or {}
                    # Cached prompt tokens are reported apart; all of them were input.
                    input_tokens = sum(
                        int(usage.get(k) or 0)
                        for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
                    )
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "thinking_delta":
                        if delta.get("thinking"):
                            yield Chunk(thinking=delta["thinking"])
                        continue
                    if "partial_json" in delta:  # the forced tool's input: JSON, never split
                        text, thought = delta.get("partial_json") or "", ""
                    else:
                        text, thought = split.feed(delta.get("text") or "")
                    if text or thought:
                        yield Chunk(text=text, thinking=thought)
                elif kind == "message_delta":
                    # output_tokens here is the running total (thinking included), not an increment.
                    output_tokens = int((data.get("usage") or {}).get("output_tokens") or output_tokens)
                    reason = (data.get("delta") or {}).get("stop_reason")
                    if reason:
                        finish = _FINISH.get(reason, FINISH_STOP)
                elif kind == "message_stop":
                    text, thought = split.flush()
                    if text or thought:
                        yield Chunk(text=text, thinking=thought)
                    yield Chunk(usage=Usage(input_tokens, output_tokens), finish=finish)
                    await read_to_end(lines)
                    return
                elif kind == "error":
                    err = data.get("error") or {}
                    status = _ERROR_STATUS.get(err.get("type", ""), 500)
                    raise error_for_message(self.name, status, str(err.get("message", "")), (key,))
        raise StreamBroken(self.name, "stream ended before `message_stop`", FIX_BROKEN)

    async def health(self) -> Health:
        try:
            headers, key = self._headers()
            listing = await self._http.get_json("/v1/models", headers, (key,))
        except BackendError as e:
            return Health(reachable=False, detail=e.detail, fixes=(e.fix,) if e.fix else ())
        models = tuple(m.get("id", "") for m in listing.get("data", []))
        return Health(reachable=True, detail=f"{self.base_url}: {len(models)} models", models=models)

    async def aclose(self) -> None:
        await self._http.aclose()
