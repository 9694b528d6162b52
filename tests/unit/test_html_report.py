"""The HTML report from a real ledger: its numbers are compute_report's, its charts add up to
them, it is self-contained and escaped, and it renders in a real headless Chromium."""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path

import pytest

from hybridlsp.ledger.records import HopRecord, RequestRecord
from hybridlsp.ledger import Ledger, compute_report
from hybridlsp.ledger import series
from hybridlsp.ledger.html_report import TIER_COLORS, render_html
from hybridlsp.ledger.prices import local_cost_usd, price_usd
from tests.support import need

START = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
HOURLY = {1: 0.10, 2: 0.60}  # a workstation GPU and a shared 70B box, USD per hour
MODELS = {1: ("ollama", "qwen2.5-coder:14b"), 2: ("ollama", "llama3.3:70b"), 3: ("openai", "gpt-4.1"),
          0: ("embedded", "SmolLM2-135M-Instruct")}
# action: (weight, {tier: weight}, input token range, output token range)
ACTIONS = {
    "complete": (45, {1: 85, 2: 14, 0: 1}, (300, 1500), (20, 80)),
    "explain": (20, {1: 70, 2: 30}, (400, 2500), (150, 400)),
    "commit-message": (10, {1: 85, 2: 15}, (500, 3000), (30, 80)),
    "review": (10, {2: 70, 3: 30}, (2000, 9000), (300, 900)),
    "ask": (15, {1: 55, 2: 25, 3: 20}, (50, 3000), (100, 600)),
}
REASONS = ["invalid-answer"] * 5 + ["timeout"] * 3 + ["unavailable"] * 2 + ["context-length"]
NOTES = ["invented an API that does not exist", "wrong variable name", "<script>alert('x')</script> & co", ""]


def _latency_s(rng: random.Random, tier: int, out: int) -> float:
    per_token = {1: 0.012, 2: 0.022, 3: 0.015, 0: 0.03}[tier]
    return round(0.25 + out * per_token * rng.uniform(0.7, 1.4), 3)


def _cost(tier: int, inp: int, out: int, latency_s: float) -> float | None:
    backend, model = MODELS[tier]
    if tier == 3:
        return price_usd(model, backend, inp, out)
    return local_cost_usd(HOURLY.get(tier, 0.0), latency_s)


def fill(ledger: Ledger, days: int = 28, seed: int = 8) -> None:
    """Four weeks of one developer's requests, priced with the real price functions."""
    rng = random.Random(seed)
    names = list(ACTIONS)
    for day in range(days):
        weekend = (START + timedelta(days=day)).weekday() >= 5
        for _ in range(rng.randint(4, 9) if weekend else rng.randint(28, 44)):
            ts = START + timedelta(days=day, minutes=rng.randint(0, 9 * 60))
            action = rng.choices(names, [ACTIONS[a][0] for a in names])[0]
            _, tiers, ins, outs = ACTIONS[action]
            tier = rng.choices(list(tiers), list(tiers.values()))[0]
            inp, out = rng.randint(*ins), rng.randint(*outs)
            baseline = price_usd("gpt-4.1", "openai", inp, out)
            backend, model = MODELS[tier]
            if action in ("complete", "explain") and rng.random() < 0.05:
                ledger.record_request(RequestRecord(action=action, tier=tier, backend=backend, model=model, input_tokens=inp,
                                      output_tokens=out, latency_ms=4.0, cost_usd=0.0, baseline_cost_usd=baseline,
                                      outcome="cache-hit", saved_usd=_cost(tier, inp, out, 1.0) or 0.0), ts=ts)
                continue
            rid = f"req-{day}-{rng.getrandbits(40):x}"
            outcome, reason, waited = "ok", "", 0.0
            if tier in (2, 3) and rng.random() < 0.10:  # the article's escalation: a cheaper tier failed first
                from_tier = 1 if tier == 2 else 2
                reason = rng.choice(REASONS if tier == 2 else ["rate-limited", "timeout"])
                hop_latency = _latency_s(rng, from_tier, out // 2) if reason == "invalid-answer" else 2.0
                fb_backend, fb_model = MODELS[from_tier]
                ledger.record_hop(HopRecord(rid, action=action, tier=from_tier, backend=fb_backend, model=fb_model,
                                            reason=reason, cost_usd=local_cost_usd(HOURLY[from_tier], hop_latency),
                                            input_tokens=inp,
                                            output_tokens=out // 2 if reason == "invalid-answer" else 0,
                                            latency_ms=hop_latency * 1000), ts=ts)
                outcome, waited = "fallback", hop_latency
            latency = _latency_s(rng, tier, out)
            if rng.random() < 0.005:
                outcome, reason = "error", "unavailable"
            ledger.record_request(RequestRecord(action=action, tier=tier, backend=backend, model=model, input_tokens=inp,
                                  output_tokens=out, latency_ms=(latency + waited) * 1000,
                                  ttft_ms=latency * 150, cost_usd=_cost(tier, inp, out, latency),
                                  baseline_cost_usd=baseline, outcome=outcome, reason=reason, request_id=rid,
                                  validator="pass"), ts=ts + timedelta(seconds=waited))
            roll = rng.random()
            if roll < 0.035:
                ledger.record_feedback(rid, "bad", rng.choice(NOTES))
            elif roll < 0.12:
                ledger.record_feedback(rid, "good")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    with Ledger(tmp_path_factory.mktemp("ledger") / "ledger.sqlite3") as led:
        fill(led)
        yield led.rows(), led.feedback()


@pytest.fixture(scope="module")
def page(data):
    return render_html(*data)


def test_the_data_is_what_the_report_is_for(data):
    rep = compute_report(*data)
    assert rep.requests > 700 and rep.cache_hits > 10 and rep.errors >= 1
    assert set(rep.tier_shares) == {0, 1, 2, 3} and rep.feedback_bad > 10
    assert {m.status for m in rep.metrics} <= {"ok", "miss"}  # every metric has data


def test_headline_numbers_and_verdicts_are_compute_reports(data, page):
    rep = compute_report(*data)
    for m in rep.metrics:
        card = re.search(rf'<div class="card" data-metric="{re.escape(m.name)}" data-status="([^"]+)">(.*?)</div></div>',
                         page)
        assert card, m.name
        assert card.group(1) == m.status
        assert f'<div class="value">{escape(m.shown)}</div>' in card.group(2)
        assert f"target {escape(m.target)}" in card.group(2)


def test_series_add_up_to_the_report(data):
    rows, feedback = data
    rep = compute_report(rows, feedback)
    by_day = series.spend_by_day(rows)
    assert len(by_day) == 28
    assert sum(sum(v.values()) for v in by_day.values()) == pytest.approx(rep.cloud_spend_usd + rep.local_spend_usd)
    for tier, total in rep.spend_by_tier.items():
        assert sum(v.get(tier, 0.0) for v in by_day.values()) == pytest.approx(total)
    _, spent, baseline = series.cumulative_spend(rows)[-1]
    assert 1 - spent / baseline == pytest.approx(rep.metric("spend vs all-cloud").value)
    lat = sorted(series.local_latencies(rows))
    assert lat[-(len(lat) // 20) - 1] <= rep.metric("local p95 latency").value <= lat[-1]
    assert rep.metric("local p95 latency").value in lat
    shares = series.shares_by_action(rows)
    assert sum(n for n, _ in shares.values()) == rep.routed
    assert sum(n * s.get(1, 0) for n, s in shares.values()) == pytest.approx(rep.tier_shares[1] * rep.routed)
    assert len(series.complaints(rows, feedback)) == rep.feedback_bad
    assert sum(series.fallback_reasons(rows).values()) == sum(1 for r in rows if r.kind == "hop")


def test_page_is_self_contained_and_escaped(page):
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    for external in ("<script", "<link", "src=", "@import", "url("):
        assert external not in page.lower()
    assert set(re.findall(r"https?://[^\"' )]+", page)) == {"http://www.w3.org/2000/svg"}  # the SVG namespace only
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in page


def test_every_chart_is_there(page):
    for chart in ("spend-per-day", "cumulative-savings", "tier-shares", "local-latency", "fallback-reasons"):
        assert f'<svg id="{chart}"' in page
    for color in TIER_COLORS.values():
        assert f'fill="{color}"' in page
    assert "p95 " in page and "target 10 s" in page
    for reason in ("invalid-answer", "timeout", "rate-limited"):
        assert f">{reason}</text>" in page


def test_empty_ledger_and_since_window(tmp_path, data):
    with Ledger(tmp_path / "empty.sqlite3") as led:
        empty = render_html(led.rows(), led.feedback())
    assert "No requests recorded yet." in empty and "<svg" not in empty
    rows, feedback = data
    since = START + timedelta(days=21)
    week = render_html(rows, feedback, since=since)
    rep = compute_report(rows, feedback, since=since)
    assert f"{rep.requests} requests" in week and rep.requests < compute_report(rows, feedback).requests
    assert "2025-06-23 to 2025-06-29" in week


# ---- a real browser ---------------------------------------------------------------------------

def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def browser_args(profile: Path) -> list[str]:
    return [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}"]


def screenshot(html_file: Path, png: Path, profile: Path, size: str = "1200,2400") -> None:
    subprocess.run([*browser_args(profile), f"--screenshot={png}", f"--window-size={size}",
                    html_file.resolve().as_uri()], check=True, capture_output=True, timeout=90)


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit, non-interlaced RGB/RGBA PNG with the stdlib: (width, height, pixel rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, bytearray()
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
    assert depth == 8 and interlace == 0 and color in (2, 6), (depth, color, interlace)
    bpp = 3 if color == 2 else 4
    raw, stride = zlib.decompress(bytes(idat)), width * bpp
    prev, out = bytearray(stride), []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a, b = (line[i - bpp] if i >= bpp else 0), prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out.append(bytes(line if bpp == 3 else b"".join(line[i:i + 3] for i in range(0, stride, 4))))
        prev = line
    return width, height, out


@pytest.mark.editor
def test_report_renders_in_headless_chromium(data, tmp_path):
    need(chromium(), "needs Debian's chromium (apt-get install chromium; `make editors` installs it)")
    rows, feedback = data
    html_file = tmp_path / "report.html"
    html_file.write_text(render_html(rows, feedback), encoding="utf-8")
    png = tmp_path / "report.png"
    screenshot(html_file, png, tmp_path / "profile")

    width, height, pixel_rows = png_pixels(png.read_bytes())
    assert (width, height) == (1200, 2400)
    colours = {r[i:i + 3] for r in pixel_rows[::4] for i in range(0, len(r), 12)}
    assert len(colours) > 50, "the screenshot is (nearly) one colour: nothing was drawn"
    # the charts were painted, not only laid out: each tier's exact colour is on screen
    for tier, hex_colour in TIER_COLORS.items():
        assert bytes.fromhex(hex_colour[1:]) in colours, f"no tier {tier} colour in the screenshot"

    dom = subprocess.run([*browser_args(tmp_path / "profile2"), "--dump-dom", html_file.resolve().as_uri()],
                         check=True, capture_output=True, timeout=90, text=True).stdout
    rep = compute_report(rows, feedback)
    tier1 = rep.metric("tier-1 share")
    assert f'<div class="value">{tier1.shown}</div>' in dom
    assert dom.count("<svg") == 5 and 'id="local-latency"' in dom
