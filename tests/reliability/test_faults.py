"""The fault matrix through `Engine.run`: every fault in `faults.FAULTS`, on each wire format.

For each (fault, backend) two runs: with another tier left (the user gets its answer) and with
nothing left (the user gets an error naming the backend and the fix). Both count the requests
the faulty server received (retries are bounded) and read the ledger (the hop is recorded).
"""

import time
from contextlib import ExitStack

import pytest

from hybridlsp.request import RunRequest
from hybridlsp.errors import AllTiersFailed
from tests.e2e.conftest import repo, server_env  # noqa: F401
from tests.fakes.fixtures import fake_ollama, fake_openai  # noqa: F401
from tests.fakes.upstreams import FakeAnthropic, FakeOpenAI, unaccepting_url
from tests.unit.engine.test_pipeline import GOOD, ByModel, engine_for, ledger, make_settings  # noqa: F401

from .faults import BACKENDS, FAULTS, SETTINGS, FaultCase, fix_phrase

CLOUD = "Cloud says: " + GOOD
RUN = {"done": 0}
WAITS: dict[str, list[float]] = {}  # a limit's row -> the times measured for it, every backend and run


def _settings(backend: str, ollama, cloud, faulty_url: str | None = None):
    over: dict = {}
    if faulty_url is not None:  # the faulty backend pointed elsewhere, with the path its fake's URL has
        key, path = {"ollama": ("host", ""), "openai": ("base_url", "/v1"), "anthropic": ("base_url", "")}[backend]
        over["backends"] = {backend: {key: faulty_url + path}}
    if backend == "ollama":
        # tier 2 on the same model as tier 1 drops out of the chain: Ollama's next tier is the cloud
        tiers = {"tier2": {"backend": "ollama", "model": "qwen2.5-coder:14b"}}
        settings = make_settings(ollama, cloud, dispatch=SETTINGS, tiers=tiers)
    else:
        settings = make_settings(ollama, cloud, dispatch=SETTINGS)
    if over:
        from hybridlsp.config import merge_settings

        settings = merge_settings(settings, over)
    return settings


def _request(backend: str) -> RunRequest:
    # "Summarize" routes to tier 1 (Ollama first); tier=3 puts the cloud backend first
    return RunRequest(action="ask", text="Summarize: the build is green.", tier=None if backend == "ollama" else 3)


CASES = [pytest.param(case, backend, id=f"{backend}-{case.name}") for case in FAULTS for backend in BACKENDS]


@pytest.fixture(scope="module", autouse=True)
def warm(tmp_path_factory):
    """One answered request through each backend before any case is timed: each case's upper bound
    is for its fault, not for the process's first request (the tokenizer, the secret scanner, the
    backends' first use)."""
    import asyncio

    from hybridlsp.ledger.store import Ledger

    async def answer_once():
        with ByModel({"qwen2.5-coder:14b": GOOD}) as ollama, FakeOpenAI(answer=CLOUD) as openai, \
                FakeAnthropic(answer=CLOUD) as anthropic, Ledger(tmp_path_factory.mktemp("warm") / "l.sqlite3") as led:
            for backend, cloud in (("ollama", openai), ("openai", openai), ("anthropic", anthropic)):
                eng = engine_for(_settings(backend, ollama, cloud), led)
                try:
                    await eng.run(_request(backend))
                finally:
                    await eng.aclose()

    asyncio.run(answer_once())


@pytest.mark.parametrize("nothing_left", [False, True], ids=["next-tier", "nothing-left"])
@pytest.mark.parametrize("case,backend", CASES)
async def test_fault(case: FaultCase, backend: str, nothing_left: bool, ledger, figures):  # noqa: F811
    cloud_cls = FakeAnthropic if backend == "anthropic" else FakeOpenAI
    with ExitStack() as stack:
        ollama = stack.enter_context(ByModel({"qwen2.5-coder:14b": GOOD, "llama3.3:70b": GOOD}))
        cloud = stack.enter_context(cloud_cls(answer=CLOUD))
        faulty, rescuer = (ollama, cloud) if backend == "ollama" else (cloud, ollama)
        faulty_url = stack.enter_context(unaccepting_url()) if case.unaccepted else None
        if case.down:
            faulty.down()
        else:
            faulty.inject(*case.faults)
        if nothing_left:
            rescuer.down()
        eng = engine_for(_settings(backend, ollama, cloud, faulty_url), ledger)
        resets: list[str] = []
        t0 = time.monotonic()
        try:
            if nothing_left and case.reason is not None:
                with pytest.raises(AllTiersFailed) as failed:
                    await eng.run(_request(backend), on_reset=resets.append)
                res = None
            else:
                res = await eng.run(_request(backend), on_reset=resets.append)
        finally:
            await eng.aclose()
        elapsed = time.monotonic() - t0

    assert faulty.request_count == case.requests  # bounded retries: no storm
    assert elapsed >= case.min_wait_s
    if case.max_wait_s is not None:
        assert elapsed <= case.max_wait_s, f"{case.name}: {elapsed:.2f} s > {case.max_wait_s} s"
        WAITS.setdefault(case.name, []).append(elapsed)
    rows = ledger.rows()
    hops = [(r.backend, r.reason) for r in rows if r.kind == "hop"]
    (request_row,) = [r for r in rows if r.kind == "request"]

    if case.reason is None:  # the fault is within limits: the same backend answers
        assert res.backend == backend and res.fallbacks == [] and res.text.endswith(GOOD)
        assert rescuer.request_count == 0 and hops == [] and request_row.outcome == "ok"
    elif not nothing_left:
        assert res.backend == rescuer.backend and res.text.endswith(GOOD)
        assert [f.reason for f in res.fallbacks] == [case.reason]
        assert rescuer.request_count == 1
        assert hops == [(backend, case.reason)]
        assert (request_row.backend, request_row.outcome, request_row.reason) == (rescuer.backend, "fallback", case.reason)
        if "partial text discarded" in case.behaviour:
            assert resets and "escalating" in resets[0]  # the editor is told to drop the partial text
    else:
        (mine,) = [msg for label, msg in failed.value.hops if f":{backend}/" in label]
        assert mine.startswith(f"{backend}: ") and fix_phrase(case, backend) in mine, mine
        assert fix_phrase(case, backend) in str(failed.value)
        assert hops[0] == (backend, case.reason)  # the failed hop is in the ledger
        # the rescuer refused: for a cloud fault that is Ollama, whose other tier is then not asked
        last = "unavailable" if backend == "ollama" else "host-down"
        assert request_row.outcome == "error" and request_row.reason == last

    RUN["done"] += 1
    figures["fault matrix"] = (
        f"{RUN['done']} of {len(FAULTS)} faults x {len(BACKENDS)} wire formats x 2 (next tier / nothing left)"
        f" = {len(FAULTS) * len(BACKENDS) * 2} cases passed"
    )
    figures["time to fall back past a limit (s, slowest measured / bound)"] = ", ".join(
        f"{name} {max(times):.2f}/{next(c.max_wait_s for c in FAULTS if c.name == name):g}"
        for name, times in WAITS.items()
    )


def test_every_fault_is_bounded():
    """An upper bound on each fault's time to fall back: without one, a 60 s wait would pass."""
    assert [c.name for c in FAULTS if c.max_wait_s is None] == []


def test_fault_table_doc_is_current():
    """docs/faults.md (folded into the README) is generated from the table the tests above run."""
    from pathlib import Path

    from .fault_table import markdown

    root = Path(__file__).resolve().parents[2]
    table = markdown()
    assert (root / "docs" / "faults.md").read_text(encoding="utf-8") == table, \
        "run: python -m tests.reliability.fault_table > docs/faults.md"
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert all(row in readme for row in rows), "copy docs/faults.md's table into the README"


async def test_language_server_stays_up_through_an_outage(server_env, repo, fake_ollama, fake_openai):  # noqa: F811
    """Every backend down: `hybridlsp/run` fails with a message naming the backend and the fix, the
    ledger records it, and once the backends are back the same server answers."""
    from pathlib import Path

    from hybridlsp.ledger.store import Ledger

    from .lspwire import Wire

    fake_ollama.answer = GOOD
    wire = await Wire.start(server_env)
    try:
        await wire.initialize(repo.as_uri())
        uri = (repo / "calc.py").as_uri()
        wire.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1,
                                                              "text": (repo / "calc.py").read_text()}})
        params = {"action": "explain", "textDocument": {"uri": uri},
                  "range": {"start": {"line": 4, "character": 4}, "end": {"line": 4, "character": 4}}}
        fake_ollama.down()
        fake_openai.down()
        failed = await wire.request("hybridlsp/run", params)
        message = failed["error"]["message"]
        assert failed["error"]["code"] == -32803 and "ollama: cannot connect" in message
        assert "start Ollama (`ollama serve`) or set OLLAMA_HOST" in message and "openai: cannot connect" in message
        fake_ollama.up()
        fake_openai.up()
        answered = await wire.request("hybridlsp/run", params)
        # both hosts are in their cool-down (dispatch.cooldown_s), which is all the chain has: rather
        # than fail untried, it is tried, and tier 1 answers
        assert answered["result"]["answered_by"]["backend"] == "ollama" and wire.alive
        assert answered["result"]["fallbacks"] == []
    finally:
        assert await wire.close() == 0
    with Ledger(Path(server_env["HYBRIDLSP_HOME"]) / "ledger.sqlite3") as ledger:
        outcomes = [r.outcome for r in ledger.rows() if r.kind == "request"]
    assert outcomes[0] == "error" and outcomes[1] in ("ok", "fallback")
