"""SQLite usage ledger, prices and reports: what each request cost and whether routing pays off."""

from .export import export_jsonl
from .prices import baseline_cost, cost_usd, local_cost_usd, price_usd
from .records import CONDENSE, OUTCOMES, Feedback, HopRecord, RequestRecord, Row, is_fallback, size_bucket
from .report import Metric, Report, compute_report, format_report, report_json
from .store import MIGRATIONS, Ledger, UnknownRequest, migration

__all__ = [
    "Ledger",
    "UnknownRequest",
    "MIGRATIONS",
    "migration",
    "Row",
    "RequestRecord",
    "HopRecord",
    "CONDENSE",
    "is_fallback",
    "Feedback",
    "OUTCOMES",
    "size_bucket",
    "price_usd",
    "cost_usd",
    "local_cost_usd",
    "baseline_cost",
    "Metric",
    "Report",
    "compute_report",
    "format_report",
    "report_json",
    "export_jsonl",
]
