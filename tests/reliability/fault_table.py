"""Print the README's "fault x backend -> behaviour" table from the table `test_faults.py` runs.

    python -m tests.reliability.fault_table > docs/faults.md

`test_fault_table_doc_is_current` fails when docs/faults.md and this output differ.
"""

from __future__ import annotations

from .faults import BACKENDS, FAULTS, SETTINGS, WIRE, FaultCase, fix_phrase


def _cell(case: FaultCase, backend: str) -> str:
    n = f"{case.requests} request{'s' if case.requests != 1 else ''}"
    if case.reason is None:
        return f"answered, {n}"
    return f"`{case.reason}` -> next tier, {n}"


def _error(case: FaultCase) -> str:
    if case.reason is None:
        return "(answered)"
    phrases = {fix_phrase(case, b) for b in BACKENDS}
    if len(phrases) == 1:
        return f'"{phrases.pop()}"'
    return "; ".join(f'{b}: "{fix_phrase(case, b)}"' for b in BACKENDS)


def markdown() -> str:
    cases = len(FAULTS) * len(BACKENDS) * 2
    lines = [
        "## Faults: what happens when a model server misbehaves",
        "",
        f"Each cell is a test ({cases} in all, `tests/reliability/test_faults.py`): a real HTTP server on",
        "127.0.0.1 speaking that backend's wire format misbehaves on purpose, and the request goes",
        "through the whole engine. \"Next tier\" means the next hop of the request's fallback chain",
        "answered; the ledger records the failed hop with the reason shown. \"Requests\" is what the",
        "misbehaving server received, counted there: retries are bounded. The last column is the",
        "fix the error names when no other tier is left; every such error also names the backend.",
        "\"At most\" is the longest the whole request may take in that test, fallback included: each",
        "limit costs its own seconds, once.",
        "",
        "Settings for these figures: " + ", ".join(f"`dispatch.{k} = {v}`" for k, v in SETTINGS.items()) + ".",
        "",
        "| fault | injected as | " + " | ".join(WIRE[b] for b in BACKENDS)
        + " | what the user sees | at most | error's fix when nothing is left |",
        "|---|---|" + "---|" * len(BACKENDS) + "---|---|---|",
    ]
    for case in FAULTS:
        cells = " | ".join(_cell(case, b) for b in BACKENDS)
        bound = f"{case.max_wait_s:g} s" if case.max_wait_s is not None else ""
        lines.append(f"| {case.name} | {case.how} | {cells} | {case.behaviour} | {bound} | {_error(case)} |")
    lines += [
        "",
        "A host that refused a connection, passed a limit or answered 5xx is not asked again: every",
        "other tier on it is skipped for the rest of the request (`host-down`), and for `dispatch.cooldown_s`",
        "(30 s) after it (`host-cooldown`) unless every tier left is on such a host",
        "(`tests/reliability/test_host_skip.py`). So a stalled Ollama stream costs one limit per request,",
        "not one per tier it serves. A backend that fails `dispatch.failures_to_trip` times in a row (2)",
        "in other ways (429s) is skipped for `dispatch.cooldown_s` with the reason `circuit-open`.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
