"""DVC stage `lgbm@SYMBOL`: LightGBM on every fold of the plan and the serving refit (params section `lgbm`).

Reads data/symbols/<S>/features and split/plan.json; writes data/symbols/<S>/models/lgbm/. Logic in
`riskai.backtest.base_models`.
"""
from model_stage import run

if __name__ == "__main__":
    run("lgbm")
