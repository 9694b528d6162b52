"""OpenTelemetry export received by a real OTLP/HTTP endpoint on 127.0.0.1: an http.server that
decodes the protobuf bodies with opentelemetry-proto's own classes, as a collector would."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import pytest

from tests.support import need_module

# not installed: a skip (a failure under HYBRIDLSP_REQUIRE_ALL=1); installed but broken: an error
need_module("opentelemetry.sdk", "needs the otel extra: pip install 'hybridlsp[otel]'")
need_module("opentelemetry.exporter.otlp.proto.http", "needs the otel extra: pip install 'hybridlsp[otel]'")

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span  # noqa: E402

from hybridlsp.backends.settings import load_settings
from hybridlsp.config import Settings, settings_from_mapping  # noqa: E402
from hybridlsp.engine import Engine  # noqa: E402
from hybridlsp.request import Fallback, RunRequest, RunResult, UsageReport
from hybridlsp.errors import ConfigError  # noqa: E402
from hybridlsp.ledger.store import Ledger  # noqa: E402
from hybridlsp.routing.types import Decision, Hop  # noqa: E402
from hybridlsp.telemetry import exporter_for, span_attributes  # noqa: E402
from tests.fakes.collector import Collector  # noqa: E402
from tests.fakes.upstreams import FakeOllama, FakeOpenAI  # noqa: E402

PROMPT = "Why does parse_invoice() drop the VAT line for customer ACME-7781?"
ANSWER = "Because the loop skips the last line item."


class Receiver(Collector):
    """The collector's bodies decoded with opentelemetry-proto's own classes."""

    @property
    def traces(self) -> list[ExportTraceServiceRequest]:
        return [ExportTraceServiceRequest.FromString(b) for b in self.bodies("/v1/traces")]

    @property
    def metrics(self) -> list[ExportMetricsServiceRequest]:
        return [ExportMetricsServiceRequest.FromString(b) for b in self.bodies("/v1/metrics")]

    @property
    def paths(self) -> list[str]:
        return [p.path for p in self.posts]

    def spans(self) -> list[Span]:
        return [s for req in self.traces for rs in req.resource_spans for ss in rs.scope_spans for s in ss.spans]

    def metric(self, name: str):
        found = [m for req in self.metrics for rm in req.resource_metrics for sm in rm.scope_metrics
                 for m in sm.metrics if m.name == name]
        assert found, f"metric {name} not received"
        return found[-1]


def value(v):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind)


def attrs(kvs) -> dict:
    return {kv.key: value(kv.value) for kv in kvs}


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


@pytest.fixture
def ledger(tmp_path):
    with Ledger(tmp_path / "ledger.sqlite3") as led:
        yield led


def telemetry_settings(endpoint: str, **over) -> Settings:
    return settings_from_mapping({"telemetry": {"enabled": True, "endpoint": endpoint, "user": "ana",
                                                "repository": "payments", **over}})


def cloud_result(private: bool = False) -> tuple[RunRequest, RunResult]:
    """A request that fell back twice and was answered by the cloud tier."""
    chain = (Hop(2, "ollama", "llama3.3:70b"), Hop(3, "openai", "gpt-4.1"))
    decision = Decision(tier=2, backend="ollama", model="llama3.3:70b", max_output_tokens=2048, chain=chain,
                        reasons=("multi-step ask -> tier 2",), prompt=PROMPT, input_tokens=1200, private=private)
    req = RunRequest(action="ask", text=PROMPT, workspace="/home/ana/src/billing")
    result = RunResult(
        text=ANSWER, decision=decision, usage=UsageReport(1200, 350, 0.0052, 0.0052),
        fallbacks=[Fallback("tier2:ollama/llama3.3:70b", "tier3:openai/gpt-4.1", "timeout")],
        request_id="r-42", backend="openai", model="gpt-4.1", tier=3, latency_ms=2500.0, ttft_ms=900.0,
    )
    return req, result


def observe(engine: Engine, req: RunRequest, result: RunResult) -> None:
    engine.observers.notify(req, result)  # what Engine does after each answered request


def install_telemetry(engine: Engine, settings):
    """What the command line and the server do: an exporter, registered on the engine."""
    exporter = exporter_for(settings)
    if exporter is not None:
        engine.add_observer(exporter)
    return exporter


def test_off_by_default(ledger):
    engine = Engine(Settings(), ledger=ledger, env={})
    assert Settings().telemetry.enabled is False
    assert install_telemetry(engine, Settings()) is None and len(engine.observers) == 0


def test_span_and_metrics_reach_the_collector(receiver, ledger):
    settings = telemetry_settings(receiver.url)
    engine = Engine(settings, ledger=ledger, env={})
    exporter = install_telemetry(engine, settings)
    try:
        observe(engine, *cloud_result())
        assert exporter.flush()
    finally:
        asyncio.run(engine.aclose())
    assert len(engine.observers) == 0 and exporter._closed  # the engine shut its exporter down
    assert {"/v1/traces", "/v1/metrics"} <= set(receiver.paths)

    (span,) = receiver.spans()
    assert span.name == "chat gpt-4.1" and span.kind == Span.SPAN_KIND_CLIENT
    assert (span.end_time_unix_nano - span.start_time_unix_nano) / 1e6 == pytest.approx(2500.0, abs=1)
    a = attrs(span.attributes)
    assert {k: a[k] for k in ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.system",
                              "gen_ai.request.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens")} == {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai", "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4.1", "gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 350}
    assert a["hybridlsp.tier"] == 3 and a["hybridlsp.decided_tier"] == 2 and a["hybridlsp.action"] == "ask"
    assert a["hybridlsp.cost_usd"] == pytest.approx(0.0052) and a["hybridlsp.baseline_cost_usd"] == pytest.approx(0.0052)
    assert a["hybridlsp.fallback"] == 1 and a["hybridlsp.fallback_reasons"] == ["timeout"]
    assert a["hybridlsp.user"] == "ana" and a["hybridlsp.repository"] == "payments"
    assert a["hybridlsp.request_id"] == "r-42" and a["hybridlsp.ttft_ms"] == 900.0
    resource = attrs(receiver.traces[0].resource_spans[0].resource.attributes)
    assert resource["service.name"] == "hybridlsp"

    # no prompt or answer text anywhere on the wire by default
    assert "gen_ai.input.messages" not in a
    wire = b"".join(receiver.bodies())
    assert PROMPT.encode() not in wire and ANSWER.encode() not in wire and b"ACME-7781" not in wire

    tokens = {(p.attributes and attrs(p.attributes)["gen_ai.token.type"]): p.as_int
              for p in receiver.metric("hybridlsp.tokens").sum.data_points}
    assert tokens == {"input": 1200, "output": 350}
    point = receiver.metric("hybridlsp.tokens").sum.data_points[0]
    assert attrs(point.attributes)["hybridlsp.tier"] == 3 and attrs(point.attributes)["hybridlsp.user"] == "ana"
    assert receiver.metric("hybridlsp.cost").sum.data_points[0].as_double == pytest.approx(0.0052)
    assert receiver.metric("hybridlsp.baseline_cost").sum.data_points[0].as_double == pytest.approx(0.0052)
    hist = receiver.metric("gen_ai.client.operation.duration").histogram.data_points[0]
    assert hist.count == 1 and hist.sum == pytest.approx(2.5) and 10.24 in hist.explicit_bounds


def test_prompts_only_when_enabled_and_never_for_private_requests(receiver, ledger):
    settings = telemetry_settings(receiver.url, include_prompts=True, repository="")
    engine = Engine(settings, ledger=ledger, env={})
    exporter = install_telemetry(engine, settings)
    try:
        observe(engine, *cloud_result())
        observe(engine, *cloud_result(private=True))
        exporter.flush()
    finally:
        exporter.shutdown()
    public, private = sorted(receiver.spans(), key=lambda s: attrs(s.attributes)["hybridlsp.private"])
    a = attrs(public.attributes)
    assert PROMPT in a["gen_ai.input.messages"] and ANSWER in a["gen_ai.output.messages"]
    assert a["hybridlsp.repository"] == "billing"  # unset: the workspace folder's name, not its path
    assert "gen_ai.input.messages" not in attrs(private.attributes)
    assert "/home/ana" not in b"".join(receiver.bodies()).decode("latin-1")


@pytest.mark.parametrize("prompt, text, sent", [
    (PROMPT, PROMPT, PROMPT),  # an editor's ask: its text is its prompt, exported once
    ("", PROMPT, PROMPT),  # the command line's ask
    ("Why?", "def f(): pass", "Why?\n\ndef f(): pass"),  # a question about a selection: both
])
def test_the_prompt_is_exported_as_it_was_asked(prompt, text, sent):
    req, result = cloud_result()
    req = RunRequest(action="ask", text=text, prompt=prompt)
    a = span_attributes(req, result, user="ana", repository="payments", include_prompts=True)
    assert json.loads(a["gen_ai.input.messages"])[0]["parts"][0]["content"] == sent


async def test_a_real_request_through_the_engine_is_exported(receiver, ledger):
    with FakeOllama() as ollama, FakeOpenAI(answer="Cloud says: " + ANSWER, usage=(120, 40)) as openai:
        ollama.inject("500", "500")
        settings = settings_from_mapping({
            "embedded": {"enabled": False},
            "dispatch": {"max_retries": 0, "read_timeout_s": 2, "connect_timeout_s": 1},
            "backends": {"ollama": {"host": ollama.url}, "openai": {"base_url": openai.base_url}},
            "telemetry": {"enabled": True, "endpoint": receiver.url, "user": "bo"},
        })
        engine = Engine(settings, ledger=ledger, env={"OPENAI_API_KEY": "sk-test-0123456789abcdef"})
        exporter = install_telemetry(engine, settings)
        try:
            res = await engine.run(RunRequest(action="ask", text="Summarize: the build is green."))
            await engine.aclose()
            exporter.flush()
        finally:
            exporter.shutdown()
    (span,) = receiver.spans()
    a = attrs(span.attributes)
    assert res.tier == 3 and a["hybridlsp.tier"] == 3 and a["gen_ai.usage.input_tokens"] == 120
    # tier 2 is on the Ollama that answered 500: skipped, not asked
    assert a["hybridlsp.fallback"] == 2 and a["hybridlsp.fallback_reasons"] == ["server-error", "host-down"]
    assert a["hybridlsp.cost_usd"] == pytest.approx(res.usage.cost_usd) and a["hybridlsp.cost_usd"] > 0
    assert a["hybridlsp.user"] == "bo" and a["hybridlsp.request_id"] == res.request_id


def test_empty_endpoint_uses_the_standard_otel_environment(receiver, ledger, monkeypatch):
    # how a team keeps its collector token out of settings files
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer team-collector-token")
    settings = telemetry_settings("")
    engine = Engine(settings, ledger=ledger, env={})
    exporter = install_telemetry(engine, settings)
    try:
        observe(engine, *cloud_result())
        exporter.flush()
    finally:
        exporter.shutdown()
    assert {"/v1/traces", "/v1/metrics"} <= set(receiver.paths) and len(receiver.spans()) == 1
    assert all(h["authorization"] == "Bearer team-collector-token" for h in (p.headers for p in receiver.posts))


def test_unreachable_collector_never_breaks_a_request(ledger):
    from tests.fakes.upstreams import free_port

    settings = telemetry_settings(f"http://127.0.0.1:{free_port()}")
    engine = Engine(settings, ledger=ledger, env={})
    exporter = install_telemetry(engine, settings)
    t0 = time.monotonic()
    observe(engine, *cloud_result())
    assert time.monotonic() - t0 < 0.5  # export happens in the background, not in the request
    t0 = time.monotonic()
    exporter.shutdown()  # gives up after the export timeout instead of retrying for minutes
    assert time.monotonic() - t0 < 15


def test_enabled_without_the_extra_says_how_to_fix(monkeypatch, ledger):
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.http.metric_exporter", None)
    settings = telemetry_settings("http://127.0.0.1:4318")
    engine = Engine(settings, ledger=ledger, env={})
    with pytest.raises(ConfigError, match=r"pip install 'hybridlsp\[otel\]'"):
        install_telemetry(engine, settings)
    assert len(engine.observers) == 0


def test_a_workspace_file_cannot_turn_export_on_or_redirect_it(tmp_path):
    (tmp_path / "config.toml").write_text('[telemetry]\nuser = "ana"\n')
    ws = tmp_path / "repo"
    ws.mkdir()
    (ws / ".hybridlsp.toml").write_text(
        '[telemetry]\nenabled = true\nendpoint = "http://collector.example:4318"\ninclude_prompts = true\n'
        'repository = "payments"\n'
    )
    settings, notes = load_settings(ws, env={"HYBRIDLSP_HOME": str(tmp_path)})
    t = settings.telemetry
    assert (t.enabled, t.endpoint, t.include_prompts) == (False, "", False)
    assert (t.user, t.repository) == ("ana", "payments")  # naming is fine; where data goes is not
    assert sum("telemetry." in n for n in notes) == 3


async def test_a_redacted_request_exports_no_text_even_with_prompts_on(receiver, ledger):
    # the request and the answer held here have the secret values back: none of it is exported
    token = "".join(("gh", "p_", "a1B2c3D4e5F6g7H8i9J0", "k1L2m3N4o5P6q7R8"))
    with FakeOllama() as ollama, FakeOpenAI(answer="Rotate <SECRET_1> today.") as openai:
        settings = settings_from_mapping({
            "embedded": {"enabled": False}, "cache": {"enabled": False}, "privacy": {"on_secret": "redact"},
            "backends": {"ollama": {"host": ollama.url}, "openai": {"base_url": openai.base_url}},
            "telemetry": {"enabled": True, "endpoint": receiver.url, "include_prompts": True},
        })
        engine = Engine(settings, ledger=ledger, env={"OPENAI_API_KEY": "sk-test-0123456789abcdef"})
        exporter = install_telemetry(engine, settings)
        try:
            res = await engine.run(RunRequest(action="ask", text=f'[cloud] Why a 401?\nGITHUB_TOKEN = "{token}"\n'))
            await engine.aclose()
            exporter.flush()
        finally:
            exporter.shutdown()
    assert res.tier == 3 and res.redacted == 1 and res.text == f"Rotate {token} today."
    (span,) = receiver.spans()
    a = attrs(span.attributes)
    assert a["hybridlsp.redacted"] == 1 and a["hybridlsp.private"] is False
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a
    assert token.encode() not in b"".join(receiver.bodies())
