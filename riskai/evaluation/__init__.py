"""Evaluation of the risk models against baselines: metrics, events, bootstrap, liquidation risk.

Every function here is pure (DataFrames and arrays in, numbers and frames out); the `evaluate`
stage only reads files, calls `riskai.evaluation.report.evaluate` and writes the results.
"""
