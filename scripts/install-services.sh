#!/usr/bin/env bash
# Installs the server binaries the integration tests run (they start and stop
# their own instances on loopback ports): redis-server and PostgreSQL.
# Idempotent; apt-get runs only when a binary is missing.
set -euo pipefail
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# Debian keeps the server programs off PATH, in /usr/lib/postgresql/<major>/bin.
compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null || need+=(postgresql)
if ((${#need[@]} == 0)); then
  exit 0
fi
# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install install-services "${need[@]}"
# The packages start system instances; the tests run their own.
for svc in redis-server postgresql; do
  systemctl disable --now "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
done
