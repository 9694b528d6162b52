"""Tuning from what the ledger recorded: routing thresholds (`thresholds`, used by `hybridlsp tune`) and
the per-user online estimate (`online`, `escalation.learn`)."""
