"""Trains the fraud model and its logistic-regression baseline, and reports
their quality on the time-based test split. Run through `make fraud-model`:

    go run ./apps/fraud/cmd/dataset --out DATA
    /usr/bin/python3 apps/fraud/model/train.py DATA apps/fraud/model

Writes model.json (XGBoost trees, served by apps/fraud), model-lr.json (the
fallback: weights over standardized features), reference.json (XGBoost's
own predictions for test rows, which the server checks a model against
before serving it) and metrics.json.
"""
import json
import os
import sys

import numpy as np
import xgboost as xgb


def load(path):
    with open(path) as f:
        header = f.readline().strip().split(",")
    data = np.genfromtxt(path, delimiter=",", skip_header=1, filling_values=np.nan)
    return header[2:], data[:, 0].astype(int), data[:, 1], data[:, 2:]


def average_precision(y, s):
    order = np.argsort(-s, kind="stable")
    y = y[order]
    tp = np.cumsum(y)
    precision = tp / np.arange(1, len(y) + 1)
    return float(np.sum(precision * y) / max(1, y.sum()))


def recall_at_fpr(y, s, fpr):
    negatives = np.sort(s[y == 0])
    threshold = negatives[int(np.ceil((1 - fpr) * len(negatives))) - 1]
    return float(np.mean(s[y == 1] > threshold)), float(threshold)


def precision_at_k_per_day(days, y, s, k=100):
    values = []
    for d in np.unique(days):
        idx = np.where(days == d)[0]
        top = idx[np.argsort(-s[idx], kind="stable")[:k]]
        values.append(y[top].mean())
    return float(np.mean(values))


def report(name, days, y, s):
    r01, t01 = recall_at_fpr(y, s, 0.001)
    r1, t1 = recall_at_fpr(y, s, 0.01)
    return {
        "model": name,
        "pr_auc": round(average_precision(y, s), 4),
        "recall_at_0.1pct_fpr": round(r01, 4),
        "recall_at_1pct_fpr": round(r1, 4),
        "threshold_at_0.1pct_fpr": round(t01, 6),
        "threshold_at_1pct_fpr": round(t1, 6),
        "precision_at_100_per_day": round(precision_at_k_per_day(days, y, s), 4),
    }


def main(data_dir, out_dir):
    names, _, ytr, Xtr = load(os.path.join(data_dir, "train.csv"))
    _, dte, yte, Xte = load(os.path.join(data_dir, "test.csv"))

    params = {
        "objective": "binary:logistic", "eval_metric": "aucpr", "tree_method": "hist",
        "max_depth": 5, "eta": 0.1, "subsample": 0.8, "colsample_bytree": 0.8,
        "min_child_weight": 5, "seed": 42, "nthread": 2,
    }
    dtrain = xgb.DMatrix(Xtr, label=ytr, missing=np.nan, feature_names=names)
    dtest = xgb.DMatrix(Xte, label=yte, missing=np.nan, feature_names=names)
    trees = xgb.train(params, dtrain, num_boost_round=150)
    trees.save_model(os.path.join(out_dir, "model.json"))
    s_trees = trees.predict(dtest)

    # Logistic regression on standardized features, missing values at the
    # training mean: XGBoost's linear booster is exactly that model.
    mean = np.nanmean(Xtr, axis=0)
    std = np.nanstd(Xtr, axis=0)
    std[std == 0] = 1
    def standardize(X):
        X = np.where(np.isnan(X), mean, X)
        return (X - mean) / std
    lr = xgb.train({"objective": "binary:logistic", "booster": "gblinear", "lambda": 1.0, "eta": 0.5,
                    "updater": "coord_descent", "seed": 42, "nthread": 2},
                   xgb.DMatrix(standardize(Xtr), label=ytr), num_boost_round=100)
    dump = json.loads(lr.save_raw("json").decode())
    weights = [float(w) for w in dump["learner"]["gradient_booster"]["model"]["weights"]]
    base = float(dump["learner"]["learner_model_param"]["base_score"].strip("[]"))
    lr_model = {
        "format": "intelliflow-logistic-v1", "features": names,
        "mean": [float(v) for v in mean], "std": [float(v) for v in std],
        "weights": weights[:-1], "bias": weights[-1] + float(np.log(base / (1 - base))),
    }
    with open(os.path.join(out_dir, "model-lr.json"), "w") as f:
        json.dump(lr_model, f, indent=1)
    s_lr = lr.predict(xgb.DMatrix(standardize(Xte)))

    # Reference predictions: the server refuses a model that does not
    # reproduce them (a damaged or mismatched file).
    pick = np.random.default_rng(7).choice(len(yte), size=200, replace=False)
    reference = {
        "features": [[None if np.isnan(v) else float(v) for v in Xte[i]] for i in pick],
        "probability": [float(s_trees[i]) for i in pick],
        "lr_probability": [float(s_lr[i]) for i in pick],
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f)

    metrics = {
        "xgboost_version": xgb.__version__,
        "train_rows": int(len(ytr)), "train_fraud": int(ytr.sum()),
        "test_rows": int(len(yte)), "test_fraud": int(yte.sum()),
        "models": [report("gradient-boosted trees (model.json)", dte, yte, s_trees),
                   report("logistic regression baseline (model-lr.json)", dte, yte, s_lr)],
    }
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    print(json.dumps(metrics, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: train.py DATA_DIR OUT_DIR")
    main(sys.argv[1], sys.argv[2])
