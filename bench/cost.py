"""[9] Cost of the article's team month: all-cloud against routed, priced with real prices.

The month is the article's: 15M tokens, of which 5M code completion, 3M summarization, 2M code
review, 3M Q&A and formatting, 2M complex analysis. Prices are genai-prices' bundled snapshot,
through `hybridlsp.ledger.prices` (what the ledger charges). Each task class is routed by our own
policy (`routing.decide`, default settings) on a typical request of that class; classes it keeps on
a local tier cost no per-token fee (the local tiers' `hourly_cost_usd` is 0 by default).

The correction. A price list gives two rates per model, input and output, and output costs
several times more. A table that adds the two per-token rates (GPT-4.1: $2 + $8 = $10 per 1M)
and applies the sum to every token overstates the bill; so does one that applies either rate
alone to all tokens. We cannot see the article's table here: the assumption corrected is that
it priced each model at (input rate + output rate) per token for all 15M tokens. The corrected
figure prices input tokens at the input rate and output tokens at the output rate, with the
input/output split per task class stated below.
"""

from __future__ import annotations

from hybridlsp.backends.location import cloud_backends

from ._common import Figure, Result

NO_GOAL = "none set (a worked figure)"
BENCH_RUNS = 1  # prices and the policy's tiers: the same every run, so once is enough

# (class, million tokens, input share, why that split, a typical request for the policy)
TASKS = [
    ("code completion", 5.0, 0.90, "a long prefix/suffix in, a few lines out",
     dict(action="complete", text="def parse(line):", input_tokens=1_500)),
    ("summarization", 3.0, 0.85, "a document in, a paragraph out",
     dict(action="ask", text="Summarize this design document for the team.", input_tokens=3_000)),
    ("code review", 2.0, 0.80, "a diff in, findings out",
     dict(action="review", text="", input_tokens=2_000, files=3)),
    ("Q&A and formatting", 3.0, 0.60, "formatting returns about what it was given",
     dict(action="ask", text="Format this JSON and explain what the config does.", input_tokens=600)),
    ("complex analysis", 2.0, 0.70, "long reasoning out",
     dict(action="ask", text="Analyze the trade-offs of moving our queue from Redis to Kafka, in depth.",
          input_tokens=4_000)),
]
MODELS = [("gpt-4.1", "openai", "our default tier 3"), ("gpt-4", "openai", "the original GPT-4"),
          ("claude-sonnet-4-20250514", "anthropic", "Claude Sonnet 4")]


def _tier(task: dict, settings) -> tuple[int, str]:
    from hybridlsp.routing import GitSummary, RouteRequest, decide

    t = dict(task)
    files = t.pop("files", 0)
    git = GitSummary(diff_tokens=t["input_tokens"], files_changed=files) if files else GitSummary()
    d = decide(RouteRequest(git=git, **t, cloud_backends=cloud_backends()), settings)
    return d.tier, d.reasons[0]


def run() -> Result:
    from hybridlsp.config import Settings
    from hybridlsp.ledger.prices import price_usd

    settings = Settings()
    tiers = [_tier(task, settings) for *_, task in TASKS]
    inp = {name: mtok * share * 1e6 for name, mtok, share, *_ in TASKS}
    out = {name: mtok * (1 - share) * 1e6 for name, mtok, share, *_ in TASKS}
    cloud_names = [name for (name, *_), (tier, _) in zip(TASKS, tiers) if tier == 3]

    def split_cost(model, provider, names) -> float:
        return sum(price_usd(model, provider, int(inp[n]), int(out[n])) for n in names)

    def summed_rate(model, provider) -> float:  # the assumption corrected: (input + output) $/token
        return (price_usd(model, provider, 1_000_000, 0) + price_usd(model, provider, 0, 1_000_000)) / 1e6

    names = [n for n, *_ in TASKS]
    rows = []
    for model, provider, label in MODELS:
        rate_in, rate_out = price_usd(model, provider, 1_000_000, 0), price_usd(model, provider, 0, 1_000_000)
        all_cloud, routed = split_cost(model, provider, names), split_cost(model, provider, cloud_names)
        cloud_tokens = sum(inp[n] + out[n] for n in cloud_names)
        article_all, article_routed = summed_rate(model, provider) * 15e6, summed_rate(model, provider) * cloud_tokens
        rows.append((model, label, rate_in, rate_out, all_cloud, routed, article_all, article_routed))

    total_in, total_out = sum(inp.values()), sum(out.values())
    raw = [
        "Task classes, the tier our policy picks for a typical request of each, and the input/output split:",
        "",
        "| class | tokens | input / output | why | tier (policy's reason) |",
        "|---|---:|---|---|---|",
        *(f"| {name} | {mtok:g}M | {share:.0%} / {1 - share:.0%} | {why} | {tier} ({reason}) |"
          for (name, mtok, share, why, _), (tier, reason) in zip(TASKS, tiers)),
        f"Total: {total_in / 1e6:.2f}M input and {total_out / 1e6:.2f}M output tokens; "
        f"{sum(inp[n] + out[n] for n in cloud_names) / 1e6:g}M go to the cloud when routed.",
        "",
        "| model | input $/1M | output $/1M | all-cloud, corrected | routed, corrected | saved | "
        "article-style all-cloud (in+out rate on every token) | article-style routed | overstated by |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(f"| {m} ({label}) | {ri:g} | {ro:g} | **${ac:,.2f}** | **${rt:,.2f}** | {1 - rt / ac:.0%} | ${aa:,.2f} "
          f"| ${ar:,.2f} | {aa / ac:.2f}x |" for m, label, ri, ro, ac, rt, aa, ar in rows),
        "",
        "Where the summed rate goes wrong: it charges every input token the output rate too. For GPT-4.1 that "
        f"is ${rows[0][2] + rows[0][3]:g}/1M on all 15M tokens (${rows[0][6]:,.2f}); the split bill is "
        f"{total_in / 1e6:.2f}M x ${rows[0][2]:g} + {total_out / 1e6:.2f}M x ${rows[0][3]:g} = ${rows[0][4]:,.2f}. "
        "The saving's percentage barely moves (the same tokens leave the cloud either way); the dollars do.",
        "Not counted: local hardware and power (set `tiers.tierN.hourly_cost_usd` to charge them), and requests "
        "a local tier answers badly and escalates to the cloud.",
    ]
    m, label, ri, ro, ac, rt, aa, ar = rows[0]
    figures = [Figure(f"{m} all-cloud", ac, " $/month"), Figure("routed", rt, " $/month"),
               Figure("saved", (1 - rt / ac) * 100, " %", digits=0),
               Figure("the summed-rate method overstates the bill", aa / ac, "x")]
    return Result(9, "Cost of the article's team month", figures, raw, goal_text=NO_GOAL)

if __name__ == "__main__":
    print(run().render())
