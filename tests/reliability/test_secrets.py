"""Planted secrets never reach a cloud request body, whatever the action, wherever they sit.

Every planted secret (secret_corpus.py) goes through every action with the cloud tier forced
(`tier=3`, or the `[cloud]` prompt flag for `ask`): in a selection, in the rest of the file, in
the file's diff against HEAD, in a staged diff (added or removed), in a prompt, in a `.env` file.
Each run is checked at the fake cloud server (OpenAI and Anthropic formats both): no probe of the
secret is in any request it received. Each run is also checked at the fake Ollama, which must have
received the secret: the case really put it in front of a model. A control line with no secret,
in the same places, must reach the cloud: the forcing works and the check can see a leak.
"""

from pathlib import Path

import pytest

from hybridlsp.request import RunRequest
from tests.e2e.conftest import git
from tests.unit.engine.test_pipeline import engine_for, ledger, make_settings  # noqa: F401

from .answering import AnsweringAnthropic, AnsweringOllama, AnsweringOpenAI
from .secret_corpus import Planted, corpus, harmless

FILE = "app/settings.py"
CLEAN_FUNC = "def total(items):\n    return sum(i.price for i in items)\n"
CORPUS = corpus()
PROVIDERS = ("openai", "anthropic")
TALLY: dict[str, dict] = {}

# `redis://:password@host` (no user name, Redis' usual form) is not recognised by
# context/secrets.py: its connection-string pattern requires a user before the colon.
KNOWN_LEAKS: dict[str, str] = {}  # kind -> why it still reaches the cloud (strict xfail)


def _indented(text: str) -> str:
    return "\n".join("    " + ln for ln in text.split("\n"))


def _repo(root: Path, before: str, after: str, stage: bool) -> Path:
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "app").mkdir()
    (root / FILE).write_text(before)
    git(root, "add", FILE)
    git(root, "commit", "-q", "-m", "Add settings")
    (root / FILE).write_text(after)
    if stage:
        git(root, "add", FILE)
    return root


def placements(p: Planted, tmp: Path) -> list[tuple[str, RunRequest]]:
    """(where the secret sits, the request) for every action."""
    func = f"def load_settings():\n{_indented(p.line)}\n    return 1\n"
    with_func = "import os\n\n\n" + func
    first, last = 3, 3 + func.count("\n") - 1
    whole = "import os\n\n" + p.line + "\n\n\n" + CLEAN_FUNC  # the secret above a clean function
    clean_at = whole.count("\n") - CLEAN_FUNC.count("\n")
    clean_doc = "import os\n\n\n" + CLEAN_FUNC
    path = str(tmp / "loose" / FILE)
    sel = dict(path=path, document=with_func, start_line=first, end_line=last, language="python", tier=3)
    rest = dict(path=path, document=whole, start_line=clean_at, end_line=clean_at + 1, language="python", tier=3)
    diff_repo = _repo(tmp / "diff", whole, clean_doc, stage=False)
    added = _repo(tmp / "added", clean_doc, whole, stage=True)
    removed = _repo(tmp / "removed", whole, clean_doc, stage=True)
    out = [
        ("complete: selection", RunRequest(action="complete", text=func, **sel)),
        ("complete: rest of the file", RunRequest(action="complete", text=CLEAN_FUNC, **rest)),
        ("explain: selection", RunRequest(action="explain", text=func, **sel)),
        ("explain: whole file", RunRequest(action="explain", text="", **{**rest, "start_line": 0, "end_line": 0})),
        ("review: selection", RunRequest(action="review", text=func, **sel)),
        ("review: whole file", RunRequest(action="review", text="", **{**rest, "start_line": 0, "end_line": 0})),
        ("review: only in the file's diff", RunRequest(
            action="review", text=CLEAN_FUNC, path=str(diff_repo / FILE), document=clean_doc, start_line=3,
            end_line=4, language="python", workspace=str(diff_repo), tier=3)),
        ("commit-message: staged diff, added", RunRequest(action="commit-message", workspace=str(added), tier=3)),
        ("commit-message: staged diff, removed", RunRequest(action="commit-message", workspace=str(removed), tier=3)),
        ("ask: prompt", RunRequest(action="ask", text="Why does this fail?\n" + p.line, tier=3)),
        ("ask: [cloud] flag", RunRequest(action="ask", text="[cloud] Analyze the trade-offs of this config:\n" + p.line)),
    ]
    if p.env_file:
        env = tmp / "loose" / ".env"
        out.append(("explain: a .env file", RunRequest(action="explain", text="", document=p.line + "\n", path=str(env),
                                                       tier=3)))
    return out


def _strings(obj) -> str:
    if isinstance(obj, str):
        return obj
    if isinstance(obj, dict):
        return "\n".join(_strings(v) for v in obj.values())
    if isinstance(obj, list):
        return "\n".join(_strings(v) for v in obj)
    return ""


def _received(fake, since: int, probes: tuple[str, ...]) -> bool:
    for r in fake.requests[since:]:
        seen = r.body.decode("utf-8", "replace") + "\n" + _strings(r.json) + "\n" + str(r.headers)
        if any(probe in seen for probe in probes):
            return True
    return False


async def _run_all(p: Planted, provider: str, tmp: Path, ledger) -> tuple[list[str], list[str], int]:  # noqa: F811
    """(placements that leaked to the cloud, placements where no local model saw it either, runs)."""
    cloud_cls = AnsweringOpenAI if provider == "openai" else AnsweringAnthropic
    with AnsweringOllama() as ollama, cloud_cls() as cloud:
        eng = engine_for(make_settings(ollama, cloud, cache={"enabled": False}), ledger)
        leaked, unseen = [], []
        cases = placements(p, tmp)
        try:
            for where, req in cases:
                local_before, cloud_before = ollama.request_count, cloud.request_count
                await eng.run(req)
                if _received(cloud, cloud_before, p.probes):
                    leaked.append(where)
                if not _received(ollama, local_before, p.probes):
                    unseen.append(where)
        finally:
            await eng.aclose()
    return leaked, unseen, len(cases)


def _record(figures, provider: str, kind: str, runs: int, leaked: list[str]) -> None:
    t = TALLY.setdefault(provider, {"runs": 0, "caught": 0, "kinds": set(), "clean": set(), "leaks": []})
    t["runs"] += runs
    t["caught"] += runs - len(leaked)
    t["kinds"].add(kind)
    if not leaked:
        t["clean"].add(kind)
    t["leaks"] += [f"{kind} ({w})" for w in leaked]
    for prov, t in TALLY.items():
        figures[f"secrets caught, {prov}"] = (
            f"{t['caught']}/{t['runs']} runs caught; {len(t['clean'])}/{len(t['kinds'])} secret kinds never reached "
            "the cloud" + (f"; leaked: {', '.join(sorted(set(x.split(' (')[0] for x in t['leaks'])))}" if t["leaks"] else "")
        )


@pytest.fixture
def work(tmp_path_factory) -> Path:
    """A directory whose path matches no local-only glob: `tmp_path` holds the test's name, and a
    name with "secret" in it matches `*secret*`, which would keep every case local by path alone."""
    return tmp_path_factory.mktemp("work")


CASES = [
    pytest.param(p, provider, id=f"{provider}-{p.kind}",
                 marks=[pytest.mark.xfail(strict=True, reason=KNOWN_LEAKS[p.kind])] if p.kind in KNOWN_LEAKS else [])
    for p in CORPUS for provider in PROVIDERS
]


@pytest.mark.parametrize("planted,provider", CASES)
async def test_planted_secret_never_reaches_the_cloud(planted: Planted, provider: str, work, ledger, figures):  # noqa: F811
    leaked, unseen, runs = await _run_all(planted, provider, work, ledger)
    _record(figures, provider, planted.kind, runs, leaked)
    assert unseen == [], f"these cases never put the secret in front of any model: {unseen}"
    assert leaked == [], f"{planted.kind} reached the {provider} request body: {leaked}"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_control_without_a_secret_does_reach_the_cloud(provider: str, work, ledger):  # noqa: F811
    """Without this, a broken forcing or a blind probe would pass the test above."""
    p = harmless()
    cloud_cls = AnsweringOpenAI if provider == "openai" else AnsweringAnthropic
    with AnsweringOllama() as ollama, cloud_cls() as cloud:
        eng = engine_for(make_settings(ollama, cloud, cache={"enabled": False}), ledger)
        missed = []
        try:
            for where, req in placements(p, work):
                before = cloud.request_count
                await eng.run(req)
                if not _received(cloud, before, p.probes):
                    missed.append(where)
        finally:
            await eng.aclose()
    assert missed == []
