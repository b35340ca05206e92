"""Tabular classification and regression: scikit-learn and XGBoost models tuned with Optuna."""
