"""Column names every layer shares (warehouse tables aside): one definition each.

The bottom of the package: features, models, backtest, serving and operations import these, never
spell them out.
"""
DATE = "date"
TARGET = "target_high_vol"
# The label and what it is derived from: vol_next is the next day's volatility, target = vol_next > threshold.
LABEL_COLUMNS = ("vol", "vol_threshold", "vol_next", TARGET)
