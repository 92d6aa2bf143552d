"""Risk models with one scikit-learn style interface (fit / predict_proba / save / load).

- ``riskai.models.boosting``: XGBRiskClassifier, LGBMRiskClassifier (XGBoost JSON, LightGBM text)
- ``riskai.models.lstm``: LSTMRiskClassifier (torch state_dict + JSON config), ``predict_frame`` for daily use
- ``riskai.models.meta``: MetaStacker (JSON) and the stacking guard (StackingLeakError)

Import from the submodules: this package does not import them, so that loading one model does not
pay for torch or the boosting libraries.
"""
