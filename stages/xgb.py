"""DVC stage `xgb@SYMBOL`: XGBoost on every fold of the plan and the serving refit (params section `xgb`).

Reads data/symbols/<S>/features and split/plan.json; writes data/symbols/<S>/models/xgb/. Logic in
`riskai.backtest.base_models`.
"""
from model_stage import run

if __name__ == "__main__":
    run("xgb")
