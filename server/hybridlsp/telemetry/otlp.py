"""Export each answered request to a team's OpenTelemetry collector over OTLP/HTTP: one span with
the GenAI semantic conventions plus hybridlsp's own attributes, and metrics (tokens by tier, cost
against the baseline, latency).

Optional and off by default: `pip install 'hybridlsp[otel]'`, then `telemetry.enabled = true`.
No prompt or answer text leaves the machine unless `telemetry.include_prompts` is set, and never
for a request the policy marked private (a secret or a local-only path), nor for one whose secrets
were redacted (the text held here has the values back), whatever the setting.

Our own tracer and meter providers, not the global ones: an editor may host other instrumented
code, and a language server must not change where that code's telemetry goes.
"""

from __future__ import annotations

import atexit
import getpass
import json
import logging
import time
from pathlib import Path
from .. import version
from ..config import Settings, TelemetrySettings
from ..errors import ConfigError
from ..request import RunRequest, RunResult

__all__ = ["exporter_for", "TelemetryExporter", "span_attributes", "FIX_INSTALL"]

log = logging.getLogger(__name__)

FIX_INSTALL = "install the optional exporter: pip install 'hybridlsp[otel]'"
# Each export gives up after this long, so a dead collector delays an editor's exit by seconds, not minutes.
_EXPORT_TIMEOUT_S = 5.0
_METRIC_INTERVAL_MS = 60_000
# The GenAI conventions' advised buckets for gen_ai.client.operation.duration, in seconds.
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)


def _user(t: TelemetrySettings) -> str:
    if t.user:
        return t.user
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name (some containers): leave it to the setting
        return ""


def _repository(t: TelemetrySettings, req: RunRequest) -> str:
    # the folder's name only: a full path says more about the machine than a team view needs
    return t.repository or (Path(req.workspace).name if req.workspace else "")


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def span_attributes(req: RunRequest, result: RunResult, *, user: str, repository: str,
                    include_prompts: bool = False) -> dict:
    """The span's attributes: GenAI conventions first, then ours."""
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": result.backend,
        "gen_ai.system": result.backend,  # the older name, still what many dashboards read
        "gen_ai.request.model": result.model,
        "gen_ai.response.model": result.model,
        "gen_ai.request.max_tokens": result.decision.max_output_tokens,
        "gen_ai.usage.input_tokens": result.usage.input_tokens,
        "gen_ai.usage.output_tokens": result.usage.output_tokens,
        "hybridlsp.request_id": result.request_id,
        "hybridlsp.action": req.action,
        "hybridlsp.tier": result.tier,
        "hybridlsp.decided_tier": result.decision.tier,
        "hybridlsp.backend": result.backend,
        "hybridlsp.cost_usd": result.usage.cost_usd,
        "hybridlsp.baseline_cost_usd": result.usage.baseline_cost_usd,
        "hybridlsp.fallback": len(result.fallbacks),
        "hybridlsp.fallback_reasons": [f.reason for f in result.fallbacks],
        "hybridlsp.cached": result.cached,
        "hybridlsp.private": result.decision.private,
        "hybridlsp.redacted": result.redacted,
        "hybridlsp.decision_reasons": list(result.decision.reasons),
        "hybridlsp.user": user,
        "hybridlsp.repository": repository,
    }
    if result.ttft_ms is not None:
        attrs["hybridlsp.ttft_ms"] = result.ttft_ms
    if include_prompts and not result.decision.private and not result.redacted:
        # an editor's ask is its text and its prompt at once: once
        asked = "\n\n".join(dict.fromkeys(t for t in (req.prompt, req.text) if t))
        attrs["gen_ai.input.messages"] = _messages("user", asked)
        attrs["gen_ai.output.messages"] = _messages("assistant", result.text)
    return attrs


class TelemetryExporter:
    """Spans and metrics for answered requests, batched and sent from background threads."""

    def __init__(self, settings: TelemetrySettings):
        # OpenTelemetry: the optional `otel` extra, imported only when telemetry is enabled
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.trace import SpanKind

        self.settings = settings
        self.user = _user(settings)
        base = settings.endpoint.rstrip("/")
        # empty endpoint: the exporters read OTEL_EXPORTER_OTLP_(TRACES_|METRICS_)ENDPOINT themselves
        traces_url = f"{base}/v1/traces" if base else None
        metrics_url = f"{base}/v1/metrics" if base else None
        resource = Resource.create({"service.name": "hybridlsp", "service.version": version()})

        self._tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self._tracer_provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url, timeout=_EXPORT_TIMEOUT_S))
        )
        self._tracer = self._tracer_provider.get_tracer("hybridlsp")
        self._span_kind = SpanKind.CLIENT
        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=metrics_url, timeout=_EXPORT_TIMEOUT_S),
            export_interval_millis=_METRIC_INTERVAL_MS,
        )
        self._meter_provider = MeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)
        meter = self._meter_provider.get_meter("hybridlsp")
        self._tokens = meter.create_counter("hybridlsp.tokens", "{token}", "tokens sent and received, by tier")
        self._cost = meter.create_counter("hybridlsp.cost", "USD", "what requests cost (cloud price or hardware time)")
        self._baseline = meter.create_counter(
            "hybridlsp.baseline_cost", "USD", "what the same requests would have cost on the all-cloud baseline"
        )
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", "s", "end-to-end request latency",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._closed = False
        atexit.register(self.shutdown)

    def observe(self, req: RunRequest, result: RunResult) -> None:
        """Called by the engine after each answered request (`Engine.add_observer`): cheap, never
        blocks on the network."""
        repository = _repository(self.settings, req)
        attrs = span_attributes(req, result, user=self.user, repository=repository,
                                include_prompts=self.settings.include_prompts)
        end = time.time_ns()
        span = self._tracer.start_span(
            f"chat {result.model}", kind=self._span_kind, attributes=attrs,
            start_time=end - int(result.latency_ms * 1_000_000),
        )
        span.end(end_time=end)

        common = {"hybridlsp.tier": result.tier, "hybridlsp.action": req.action,
                  "gen_ai.provider.name": result.backend, "gen_ai.request.model": result.model,
                  "hybridlsp.user": self.user, "hybridlsp.repository": repository}
        if not result.cached:  # a cache hit ran no model: no tokens were processed
            self._tokens.add(result.usage.input_tokens, {**common, "gen_ai.token.type": "input"})
            self._tokens.add(result.usage.output_tokens, {**common, "gen_ai.token.type": "output"})
        self._cost.add(result.usage.cost_usd, common)
        self._baseline.add(result.usage.baseline_cost_usd, common)
        self._duration.record(result.latency_ms / 1000, {**common, "gen_ai.operation.name": "chat"})

    def flush(self, timeout_ms: int = 10_000) -> bool:
        """Send what is pending now (blocks: call it off the event loop)."""
        spans = self._tracer_provider.force_flush(timeout_ms)
        metrics = self._meter_provider.force_flush(timeout_ms)
        return bool(spans and metrics)

    def shutdown(self) -> None:
        """Stop observing, send what is pending, stop the export threads. Blocks up to a few
        seconds when the collector is unreachable; idempotent."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.shutdown)
        self._tracer_provider.shutdown()
        self._meter_provider.shutdown()


def exporter_for(settings: Settings) -> TelemetryExporter | None:
    """When `telemetry.enabled`, a started exporter to register with `Engine.add_observer` (the
    engine shuts it down when it closes).

    Returns None when telemetry is off; raises ConfigError (saying how to fix it) when it is on
    but the `otel` extra is not installed.
    """
    t = settings.telemetry
    if not t.enabled:
        return None
    try:
        exporter = TelemetryExporter(t)
    except ImportError as e:
        raise ConfigError("telemetry.enabled", f"OpenTelemetry is not installed ({e.name}): {FIX_INSTALL}") from None
    log.info("telemetry: exporting requests to %s", t.endpoint or "the OTEL_EXPORTER_OTLP_* endpoint")
    return exporter
