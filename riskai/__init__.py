"""riskai: a reproducible DVC pipeline that retrains a volatility-risk model for BTCUSDT."""

__version__ = "0.1.0"
