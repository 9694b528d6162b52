"""`hybridlsp report` (commands.report): the table, charts only on a UTF-8 terminal, --json,
--html and --open (with an injected opener, so no browser starts)."""

import argparse
import io
import json

import pytest

from hybridlsp.ledger import Ledger
from hybridlsp.ledger.charts import bar, can_draw, sparkline
from hybridlsp.commands.report import add_parser, run_report
from tests.unit.test_html_report import fill


class Tty(io.StringIO):
    def __init__(self, encoding="utf-8", tty=True):
        super().__init__()
        self._encoding, self._tty = encoding, tty

    @property
    def encoding(self):
        return self._encoding

    def isatty(self):
        return self._tty


def parse(*argv):
    p = argparse.ArgumentParser()
    add_parser(p.add_subparsers())
    return p.parse_args(["report", *argv])


@pytest.fixture(scope="module")
def ledger(tmp_path_factory):
    with Ledger(tmp_path_factory.mktemp("cli") / "ledger.sqlite3") as led:
        fill(led, days=10)
        yield led


@pytest.mark.parametrize(
    "stream,env,draw",
    [
        (Tty(), {"TERM": "xterm-256color"}, True),
        (Tty("UTF8"), {"TERM": "screen"}, True),
        (Tty(tty=False), {"TERM": "xterm"}, False),  # a pipe: scripts keep the plain table
        (Tty("ascii"), {"TERM": "xterm"}, False),
        (Tty("latin-1"), {"TERM": "xterm"}, False),
        (Tty(), {"TERM": "dumb"}, False),
    ],
)
def test_can_draw(stream, env, draw):
    assert can_draw(stream, env) is draw


@pytest.mark.parametrize(
    "values,top,line",
    [
        ([0, 1, 2, 4, 8], None, " ▂▃▅█"),
        ([0.001, 8], 8, "▁█"),  # a tiny spend still shows; only zero is blank
        ([1, 1], 4, "▃▃"),
        ([], None, ""),
    ],
)
def test_sparkline(values, top, line):
    assert sparkline(values, top) == line


@pytest.mark.parametrize("fraction,width,drawn", [(0.5, 4, "██  "), (1, 3, "███"), (0.0625, 4, "▎   "), (0, 2, "  "), (2, 2, "██")])
def test_bar(fraction, width, drawn):
    assert bar(fraction, width) == drawn


def test_table_with_charts_on_a_terminal_and_without(ledger, monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    tty = Tty()
    assert run_report(parse(), ledger=ledger, out=tty) == 0
    text = tty.getvalue()
    assert text.startswith("hybridlsp usage (all time)") and "tier-1 share" in text
    assert "tier shares" in text and "spend per day" in text and "█" in text
    plain = Tty()
    run_report(parse("--no-charts"), ledger=ledger, out=plain)
    assert "tier shares" not in plain.getvalue() and "█" not in plain.getvalue()
    piped = Tty(tty=False)
    run_report(parse(), ledger=ledger, out=piped)
    assert piped.getvalue() == plain.getvalue()


def test_json(ledger):
    out = io.StringIO()
    run_report(parse("--json", "--since", "2025-06-05"), ledger=ledger, out=out)
    data = json.loads(out.getvalue())
    assert data["since"].startswith("2025-06-05") and data["requests"] > 0


def test_html_and_open(ledger, tmp_path):
    opened = []
    target = tmp_path / "r.html"
    err = io.StringIO()
    run_report(parse("--html", str(target), "--open"), ledger=ledger, out=io.StringIO(), err=err,
               opener=lambda url: opened.append(url) or True)
    assert target.read_text().startswith("<!doctype html>") and '<svg id="spend-per-day"' in target.read_text()
    assert opened == [target.resolve().as_uri()] and str(target) in err.getvalue()


def test_open_without_html_writes_next_to_the_ledger(ledger):
    opened, err = [], io.StringIO()
    run_report(parse("--open"), ledger=ledger, out=io.StringIO(), err=err, opener=lambda url: opened.append(url) and False)
    written = ledger.path.parent / "report.html"
    assert written.is_file() and opened == [written.resolve().as_uri()]
    assert "no browser found" in err.getvalue()


def test_the_command_line_delegates_here(tmp_path, monkeypatch, capsys):
    from hybridlsp.commands import build_parser, main

    report = build_parser()._subparsers._group_actions[0].choices["report"]
    assert "--html" in report._option_string_actions
    monkeypatch.setenv("HYBRIDLSP_HOME", str(tmp_path))
    with Ledger(tmp_path / "ledger.sqlite3") as led:
        fill(led, days=3)
    # through the real parser: an --html that stopped being wired would exit 2 here, not skip
    assert main(["report", "--html", str(tmp_path / "out.html")]) == 0
    assert "tier-1 share" in capsys.readouterr().out
    assert (tmp_path / "out.html").read_text(encoding="utf-8").startswith("<!doctype html>")
