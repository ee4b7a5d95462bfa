#!/usr/bin/env bash
# Installs Debian's nginx when it is missing: the gateway benchmark runs it
# beside the gateway, as the proxy a team would put there instead, and as
# the trivial backend both proxy to. The tests do not need it.
set -euo pipefail
if command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]]; then
  exit 0
fi
# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install install-nginx nginx-light
# The package starts a system instance; the benchmark runs its own.
systemctl disable --now nginx >/dev/null 2>&1 || service nginx stop >/dev/null 2>&1 || true
