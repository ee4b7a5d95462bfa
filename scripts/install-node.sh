#!/usr/bin/env bash
# Installs what the local cluster's real node needs from Debian: runc (the
# OCI runtime containerd's shim drives), the CNI plugins (bridge,
# host-local, loopback in /usr/lib/cni), iptables and ipset (the kubelet's
# chains; kube-router's policies) and socat (the API server, which listens
# on loopback, forwarded to the pods on the bridge's gateway). Idempotent; apt-get runs only
# when one is missing.
set -euo pipefail
need=()
[[ -x /usr/sbin/runc ]] || need+=(runc)
[[ -x /usr/lib/cni/bridge ]] || need+=(containernetworking-plugins)
[[ -x /usr/sbin/iptables ]] || need+=(iptables)
[[ -x /usr/sbin/ipset ]] || need+=(ipset)
[[ -x /usr/bin/socat ]] || need+=(socat)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# shellcheck source=scripts/apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/apt.sh"
apt_install install-node "${need[@]}"
