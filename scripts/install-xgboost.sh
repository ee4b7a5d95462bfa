#!/usr/bin/env bash
# Installs Debian's XGBoost for Python when it is missing. Only regenerating
# model reference data and training need it; the tests do not.
set -euo pipefail
if /usr/bin/python3 -c 'import xgboost' 2>/dev/null; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-xgboost: run as root (apt-get install python3-xgboost)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-xgboost
