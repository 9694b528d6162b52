"""Figures the reliability tests measure, printed once at the end of the run.

A test records what it measured with the `figures` fixture (`figures["secrets caught"] = "54/54"`);
`pytest tests/reliability -q` then ends with a "reliability figures" section.
"""

import pytest

_FIGURES: dict[str, str] = {}


@pytest.fixture
def figures() -> dict[str, str]:
    return _FIGURES


def pytest_terminal_summary(terminalreporter):
    if not _FIGURES:
        return
    terminalreporter.write_sep("-", "reliability figures")
    for name, value in _FIGURES.items():
        terminalreporter.write_line(f"{name}: {value}")
