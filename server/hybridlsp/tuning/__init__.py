"""Routing evaluation and tuning from what the ledger recorded: thresholds (tune) and the per-user online learner."""
