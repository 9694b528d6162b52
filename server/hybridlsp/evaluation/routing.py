"""How well the router spends its expensive calls (`hybridlsp eval-routing FILE`).

FILE is JSONL, one prompt a line: {"id", "prompt", "action"?, "q": [q1, q2, q3], "input_tokens"?}
where q holds the quality (0..1) of each tier's answer to that prompt, or [q_local, q_cloud] for
two tiers (then tiers 1 and 2 both score q_local); input_tokens, when absent, is counted. Each
prompt is routed by the policy as configured, with no model call. Reported:

- tier shares and cloud share, as routed;
- quality kept: mean quality of the routed answers / mean quality of all-cloud answers, and the
  same for a random router with the same tier shares (its expectation, no sampling);
- the RouteLLM curve: rank prompts hardest first (by decided tier, then the estimator's score)
  and send the top share s to the strongest tier, the rest to the weakest. The recovered gap
  PGR(s) = (Q(s) - Q_weak) / (Q_strong - Q_weak). CPT(x) is the least s with PGR(s) >= x;
  APGR is the area under PGR over s in [0, 1]. Prompts with equal keys are taken in random order:
  the curve is their expectation, so it is linear across a tie. A random router has PGR(s) = s,
  CPT(x) = x and APGR = 0.5.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..actions import get_action
from ..backends.location import cloud_backends, cloud_tiers
from ..context.tokens import count_tokens as _count_tokens
from ..routing import ACTIONS, RouteRequest, decide, get_estimator

__all__ = [
    "CPT_LEVELS",
    "Curve",
    "EvalReport",
    "EvalRow",
    "Routed",
    "evaluate",
    "format_report",
    "rank_key",
    "read_eval_rows",
    "recovery_curve",
    "render_svg",
    "report_from_routed",
    "route_rows",
    "terminal_plot",
]

CPT_LEVELS = (0.5, 0.8, 0.95)


# ---- the curve ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Curve:
    """Recovered gap at each breakpoint of the share of strong calls, from (0, 0) to (1, 1)."""

    shares: tuple[float, ...]
    recovered: tuple[float, ...]
    q_weak: float  # mean quality with every prompt on the weakest tier
    q_strong: float  # ... on the strongest

    def at(self, share: float) -> float:
        xs, ys = self.shares, self.recovered
        share = min(max(share, 0.0), 1.0)
        for i in range(1, len(xs)):
            if share <= xs[i]:
                if xs[i] == xs[i - 1]:
                    return ys[i]
                return ys[i - 1] + (share - xs[i - 1]) / (xs[i] - xs[i - 1]) * (ys[i] - ys[i - 1])
        return ys[-1]

    def quality_at(self, share: float) -> float:
        return self.q_weak + self.at(share) * (self.q_strong - self.q_weak)

    def cpt(self, level: float) -> float | None:
        """Least share of strong calls that recovers `level` of the gap; None if never."""
        xs, ys = self.shares, self.recovered
        if ys[0] >= level:
            return xs[0]
        for i in range(1, len(xs)):
            if ys[i] >= level:
                return xs[i - 1] + (level - ys[i - 1]) / (ys[i] - ys[i - 1]) * (xs[i] - xs[i - 1])
        return None

    @property
    def apgr(self) -> float:
        xs, ys = self.shares, self.recovered
        return sum((xs[i] - xs[i - 1]) * (ys[i] + ys[i - 1]) / 2 for i in range(1, len(xs)))


def recovery_curve(keys: Sequence, q_weak: Sequence[float], q_strong: Sequence[float]) -> Curve:
    """The curve for prompts ranked by `keys` (higher = sent to the strong tier first)."""
    n = len(keys)
    if n == 0 or len(q_weak) != n or len(q_strong) != n:
        raise ValueError("recovery_curve needs one key and two qualities per prompt, and at least one prompt")
    mean_w = math.fsum(q_weak) / n
    mean_s = math.fsum(q_strong) / n
    gap = mean_s - mean_w
    if gap <= 0:
        raise ValueError(
            f"the strongest tier is no better than the weakest here (mean {mean_s:.4f} vs {mean_w:.4f}): "
            "there is no gap to recover"
        )
    order = sorted(range(n), key=lambda i: keys[i], reverse=True)
    shares, recovered = [0.0], [0.0]
    gained = 0.0
    i = 0
    while i < n:
        j = i
        while j < n and keys[order[j]] == keys[order[i]]:
            gained += q_strong[order[j]] - q_weak[order[j]]
            j += 1
        shares.append(j / n)
        recovered.append(gained / n / gap)
        i = j
    recovered[-1] = 1.0  # exact, whatever the rounding on the way
    return Curve(tuple(shares), tuple(recovered), mean_w, mean_s)


# ---- the file -------------------------------------------------------------------------------

@dataclass(frozen=True)
class EvalRow:
    id: str
    prompt: str
    q: tuple[float, ...]
    action: str = "ask"
    input_tokens: int | None = None

    def quality(self, tier: int) -> float:
        """Quality of tier `tier`'s answer; with two values, tiers 1 and 2 share the first."""
        if len(self.q) == 3:
            return self.q[tier - 1]
        return self.q[1] if tier == 3 else self.q[0]


def _parse_row(obj, n: int) -> EvalRow:
    if not isinstance(obj, dict):
        raise ValueError("expected a JSON object")
    prompt = obj.get("prompt")
    if not isinstance(prompt, str):
        raise ValueError('"prompt" must be a string')
    q = obj.get("q")
    if not isinstance(q, list) or len(q) not in (2, 3) or not all(isinstance(v, (int, float)) for v in q):
        raise ValueError('"q" must be a list of 2 or 3 numbers (quality of each tier\'s answer, 0..1)')
    if not all(0 <= v <= 1 for v in q):
        raise ValueError(f'"q" values must be within 0..1, got {q}')
    action = obj.get("action", "ask")
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; expected one of {', '.join(ACTIONS)}")
    tokens = obj.get("input_tokens")
    if tokens is not None and (not isinstance(tokens, int) or tokens < 0):
        raise ValueError('"input_tokens" must be a whole number >= 0')
    return EvalRow(str(obj.get("id", n)), prompt, tuple(float(v) for v in q), action, tokens)


def read_eval_rows(lines: Iterable[str], source: str = "<input>") -> list[EvalRow]:
    """Parse the JSONL; a bad line is an error naming the line (a silent skip would skew shares)."""
    rows: list[EvalRow] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rows.append(_parse_row(json.loads(line), n))
        except ValueError as e:  # json.JSONDecodeError is a ValueError
            raise ValueError(f"{source}:{n}: {e}") from None
    if not rows:
        raise ValueError(f"{source}: no prompts")
    widths = {len(r.q) for r in rows}
    if len(widths) > 1:
        raise ValueError(f"{source}: every line needs the same number of q values (found {sorted(widths)})")
    return rows


# ---- routing the file -----------------------------------------------------------------------

@dataclass(frozen=True)
class Routed:
    row: EvalRow
    tier: int
    score: float | None  # the estimator's, when it was consulted
    reason: str


def route_rows(rows: Sequence[EvalRow], settings, estimator=None, count_tokens=None) -> list[Routed]:
    """Decide each row with the policy; no model is called. `estimator` defaults to the configured one."""
    if estimator is None:
        estimator = get_estimator(settings)
    count_tokens = count_tokens or _count_tokens
    cloud, tiers = cloud_backends(settings), cloud_tiers(settings)
    seen = _Recording(estimator) if estimator is not None else None
    out = []
    for r in rows:
        tokens = r.input_tokens if r.input_tokens is not None else count_tokens(r.prompt)
        if seen is not None:
            seen.last = None
        d = decide(RouteRequest(action=r.action, text=r.prompt, input_tokens=tokens, cloud_backends=cloud,
                                cloud_tiers=tiers, input_name=get_action(r.action).input_name), settings, seen)
        score = seen.last.score if seen is not None and seen.last is not None else None
        out.append(Routed(r, d.tier, score, d.reasons[0] if d.reasons else ""))
    return out


class _Recording:
    """Passes estimates through and keeps the last, so each prompt is scored once."""

    def __init__(self, inner):
        self.inner = inner
        self.last = None

    def estimate(self, text: str, action: str, head=None):
        self.last = self.inner.estimate(text, action, head)
        return self.last


def rank_key(r: Routed) -> tuple[int, float]:
    """Hardest first: the decided tier, then the estimator's score (unscored ties in the middle)."""
    return (r.tier, 0.5 if r.score is None else r.score)


@dataclass(frozen=True)
class EvalReport:
    n: int
    tier_shares: dict[int, float]
    cloud_share: float
    quality: float  # mean quality as routed
    quality_random: float  # a random router with the same tier shares (expected)
    quality_all_cloud: float  # every prompt on the strongest tier
    quality_all_weak: float  # every prompt on the weakest tier
    curve: Curve | None
    curve_error: str = ""
    routed: tuple[Routed, ...] = field(default=(), repr=False)

    @property
    def kept(self) -> float:
        return self.quality / self.quality_all_cloud if self.quality_all_cloud else float("nan")

    @property
    def kept_random(self) -> float:
        return self.quality_random / self.quality_all_cloud if self.quality_all_cloud else float("nan")

    def to_json(self) -> dict:
        out = {
            "prompts": self.n,
            "tier_shares": {str(t): s for t, s in self.tier_shares.items()},
            "cloud_share": self.cloud_share,
            "quality": self.quality,
            "quality_random": self.quality_random,
            "quality_all_cloud": self.quality_all_cloud,
            "quality_all_weak": self.quality_all_weak,
            "kept": self.kept,
            "kept_random": self.kept_random,
        }
        if self.curve is not None:
            c = self.curve
            out["curve"] = {
                "apgr": c.apgr,
                "apgr_random": 0.5,
                "cpt": {f"{int(lv * 100)}": c.cpt(lv) for lv in CPT_LEVELS},
                "pgr_at_cloud_share": c.at(self.cloud_share),
                "points": [[x, y] for x, y in zip(c.shares, c.recovered)],
            }
        else:
            out["curve_error"] = self.curve_error
        return out


def evaluate(rows: Sequence[EvalRow], settings, estimator=None, count_tokens=None) -> EvalReport:
    routed = route_rows(rows, settings, estimator, count_tokens)
    return report_from_routed(routed, settings)


def report_from_routed(routed: Sequence[Routed], settings) -> EvalReport:
    n = len(routed)
    shares = {t: sum(1 for r in routed if r.tier == t) / n for t in (1, 2, 3)}
    cloud = sum(1 for r in routed if r.tier in cloud_tiers(settings)) / n
    quality = math.fsum(r.row.quality(r.tier) for r in routed) / n
    mean_by_tier = {t: math.fsum(r.row.quality(t) for r in routed) / n for t in (1, 2, 3)}
    q_random = math.fsum(shares[t] * mean_by_tier[t] for t in (1, 2, 3))
    curve, err = None, ""
    try:
        curve = recovery_curve(
            [rank_key(r) for r in routed], [r.row.quality(1) for r in routed], [r.row.quality(3) for r in routed]
        )
    except ValueError as e:
        err = str(e)
    return EvalReport(n, shares, cloud, quality, q_random, mean_by_tier[3], mean_by_tier[1], curve, err, tuple(routed))


# ---- output ---------------------------------------------------------------------------------

def _pct(x: float | None) -> str:
    return "   n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x * 100:5.1f}%"


def format_report(rep: EvalReport, plot: bool = True) -> str:
    lines = [
        f"{rep.n:,} prompts",
        "tier shares:  " + "   ".join(f"tier {t} {_pct(s)}" for t, s in rep.tier_shares.items()),
        f"cloud share:  {_pct(rep.cloud_share)}",
        "",
        f"{'':28}{'router':>10}{'random':>10}",
        f"{'mean quality':28}{rep.quality:10.4f}{rep.quality_random:10.4f}",
        f"{'quality kept vs all-cloud':28}{_pct(rep.kept):>10}{_pct(rep.kept_random):>10}",
        f"(all-cloud {rep.quality_all_cloud:.4f}, all on the weakest tier {rep.quality_all_weak:.4f};"
        " random = same tier shares)",
        "",
    ]
    c = rep.curve
    if c is None:
        lines.append(f"no recovery curve: {rep.curve_error}")
        return "\n".join(lines)
    lines += [
        "recovered weak-to-strong gap by share of strong calls (RouteLLM curve):",
        f"{'strong share':>14}{'router':>10}{'random':>10}",
    ]
    for k in range(0, 11):
        s = k / 10
        lines.append(f"{_pct(s):>14}{_pct(c.at(s)):>10}{_pct(s):>10}")
    lines.append(f"{'at ' + _pct(rep.cloud_share).strip():>14}{_pct(c.at(rep.cloud_share)):>10}"
                 f"{_pct(rep.cloud_share):>10}   (this run's cloud share)")
    lines.append("")
    for lv in CPT_LEVELS:
        lines.append(f"{'CPT(' + str(int(lv * 100)) + '%)':>14}{_pct(c.cpt(lv)):>10}{_pct(lv):>10}")
    lines.append(f"{'APGR':>14}{c.apgr:10.3f}{0.5:10.3f}")
    if plot:
        lines += ["", terminal_plot(c)]
    return "\n".join(lines)


def terminal_plot(c: Curve, width: int = 41, height: int = 11) -> str:
    """Recovered gap (up) against share of strong calls (right): '*' router, '.' random."""
    grid = [[" "] * width for _ in range(height)]

    def put(x: float, y: float, ch: str) -> None:
        col = round(x * (width - 1))
        row = height - 1 - round(min(max(y, 0.0), 1.0) * (height - 1))
        if grid[row][col] == " " or ch == "*":
            grid[row][col] = ch

    for col in range(width):
        x = col / (width - 1)
        put(x, x, ".")
        put(x, c.at(x), "*")
    out = []
    for i, row in enumerate(grid):
        label = f"{100 - i * 100 // (height - 1):>4}% |" if i % 5 == 0 else "      |"
        out.append(label + "".join(row))
    out.append("      +" + "-" * width)
    out.append("       0%" + " " * (width // 2 - 5) + "50%" + " " * (width - width // 2 - 7) + "100%")
    out.append("       share of strong calls   (* router, . random)")
    return "\n".join(out)


def render_svg(c: Curve, title: str = "Recovered quality gap", cloud_share: float | None = None) -> str:
    """The curve as a standalone SVG (plain string building, no plotting library)."""
    w, h, m = 480, 360, 56
    pw, ph = w - 2 * m, h - 2 * m

    def px(x: float) -> float:
        return m + x * pw

    def py(y: float) -> float:
        return m + (1 - min(max(y, -0.1), 1.1)) * ph

    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    pts = " ".join(f"{px(x):.2f},{py(y):.2f}" for x, y in zip(c.shares, c.recovered))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="{m / 2}" text-anchor="middle" font-size="14">{esc(title)}</text>',
    ]
    for k in range(0, 11, 2):
        v = k / 10
        parts.append(f'<line x1="{px(v):.2f}" y1="{py(0):.2f}" x2="{px(v):.2f}" y2="{py(1):.2f}" stroke="#eee"/>')
        parts.append(f'<line x1="{px(0):.2f}" y1="{py(v):.2f}" x2="{px(1):.2f}" y2="{py(v):.2f}" stroke="#eee"/>')
        parts.append(f'<text x="{px(v):.2f}" y="{py(0) + 16:.2f}" text-anchor="middle">{k * 10}%</text>')
        parts.append(f'<text x="{px(0) - 6:.2f}" y="{py(v) + 4:.2f}" text-anchor="end">{k * 10}%</text>')
    parts += [
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(0)}" stroke="black"/>',
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(0)}" y2="{py(1)}" stroke="black"/>',
        f'<line x1="{px(0)}" y1="{py(0)}" x2="{px(1)}" y2="{py(1)}" stroke="#999" stroke-dasharray="4 3"/>',
        f'<polyline points="{pts}" fill="none" stroke="#1f5fbf" stroke-width="2"/>',
        f'<text x="{w / 2}" y="{h - 14}" text-anchor="middle">share of strong (cloud) calls</text>',
        f'<text transform="translate(14 {h / 2}) rotate(-90)" text-anchor="middle">weak-to-strong gap recovered</text>',
        f'<text x="{px(0.55):.2f}" y="{py(0.3):.2f}" fill="#1f5fbf">router, APGR {c.apgr:.3f}</text>',
        f'<text x="{px(0.55):.2f}" y="{py(0.3) + 14:.2f}" fill="#777">random, APGR 0.500</text>',
    ]
    if cloud_share is not None:
        x = px(cloud_share)
        parts.append(f'<line x1="{x:.2f}" y1="{py(0):.2f}" x2="{x:.2f}" y2="{py(1):.2f}" stroke="#c33" '
                     'stroke-dasharray="2 2"/>')
        parts.append(f'<text x="{x + 4:.2f}" y="{py(1) + 12:.2f}" fill="#c33">as routed</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
