#!/usr/bin/env bash
# Installs Debian's nginx when it is missing: the gateway benchmark runs it
# beside the gateway, as the proxy a team would put there instead, and as
# the trivial backend both proxy to. The tests do not need it.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-nginx: run as root (apt-get install nginx-light)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null
# The package starts a system instance; the benchmark runs its own.
systemctl disable --now nginx >/dev/null 2>&1 || service nginx stop >/dev/null 2>&1 || true
