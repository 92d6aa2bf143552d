"""Feature regeneration, the high-volatility target and the time-ordered split."""
