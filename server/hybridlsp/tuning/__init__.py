"""Threshold tuning from the ledger's evidence (`thresholds`), used by `hybridlsp tune`."""
