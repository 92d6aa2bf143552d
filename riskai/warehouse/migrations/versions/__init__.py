"""Warehouse schema revisions, oldest first: 0001 baseline, 0002 symbol-neutral column names, 0003 quarantine
and revisions, 0004 implied volatility."""
