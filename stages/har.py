"""DVC stage `har@SYMBOL`: HAR-logit (the baseline the stack must beat, and one of its inputs) on every fold of the plan and the serving refit (params section `har`).

Reads data/symbols/<S>/features and split/plan.json; writes data/symbols/<S>/models/har/. Logic in
`riskai.backtest.base_models`.
"""
from model_stage import run

if __name__ == "__main__":
    run("har")
