"""Walk-forward evaluation: monthly refits of every model, scored only on days each never saw."""
