"""SQLite usage ledger, prices and reports: what each request cost and whether routing pays off."""

from .export import export_jsonl
from .prices import LOCAL_BACKENDS, baseline_cost, cost_usd, is_local, local_cost_usd, price_usd
from .records import OUTCOMES, Feedback, Row, size_bucket
from .report import Metric, Report, compute_report, format_report, report_json
from .store import MIGRATIONS, Ledger, UnknownRequest, migration

__all__ = [
    "Ledger",
    "UnknownRequest",
    "MIGRATIONS",
    "migration",
    "Row",
    "Feedback",
    "OUTCOMES",
    "size_bucket",
    "LOCAL_BACKENDS",
    "is_local",
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
