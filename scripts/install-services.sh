#!/usr/bin/env bash
# Installs the server binaries the integration tests run (they start and stop
# their own instances on loopback ports): redis-server today, PostgreSQL as
# the services that need it land. Idempotent; apt-get runs only when a
# binary is missing.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if ((${#need[@]} == 0)); then
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-services: missing ${need[*]}; run as root (apt-get install ${need[*]})" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# The package starts a system instance; the tests run their own.
systemctl disable --now redis-server >/dev/null 2>&1 || service redis-server stop >/dev/null 2>&1 || true
