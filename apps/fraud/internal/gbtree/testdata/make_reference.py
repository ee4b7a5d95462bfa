"""Re-creates xgb_model.json and reference.json: a small XGBoost model and
XGBoost's own predictions for held-out rows, which the Go evaluator must
reproduce. Run with Debian's python3-xgboost (scripts install it):

    /usr/bin/python3 apps/fraud/internal/gbtree/testdata/make_reference.py
"""
import json
import os

import numpy as np
import xgboost as xgb

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261127)

n, features = 4000, 8
X = rng.normal(size=(n, features))
X[:, 5] = rng.integers(0, 24, size=n)          # an hour-of-day-like integer feature
X[rng.random(n) < 0.1, 3] = np.nan              # missing values take the default branch
logit = 1.5 * X[:, 0] - 2.0 * np.nan_to_num(X[:, 3]) * (X[:, 1] > 0) + 0.3 * (X[:, 5] > 20) - 2.5
y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)

train = xgb.DMatrix(X[:3600], label=y[:3600], missing=np.nan)
params = {"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "seed": 7, "base_score": 0.2}
booster = xgb.train(params, train, num_boost_round=30)
booster.save_model(os.path.join(here, "xgb_model.json"))

held = X[3600:3800]
dm = xgb.DMatrix(held, missing=np.nan)
reference = {
    "xgboost_version": xgb.__version__,
    "features": [[None if np.isnan(v) else float(v) for v in row] for row in held],
    "margin": [float(v) for v in booster.predict(dm, output_margin=True)],
    "probability": [float(v) for v in booster.predict(dm)],
    "saabas": [[float(v) for v in row] for row in booster.predict(dm, pred_contribs=True, approx_contribs=True)],
}
with open(os.path.join(here, "reference.json"), "w") as f:
    json.dump(reference, f)
