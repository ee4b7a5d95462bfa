# Sourced by the install scripts: apt_install CALLER PACKAGE... installs
# Debian packages, or fails saying which to install when not root. Nothing
# happens without packages; callers list only what is missing.
apt_install() {
  local caller=$1
  shift
  if (($# == 0)); then
    return 0
  fi
  if [[ $(id -u) -ne 0 ]]; then
    echo "$caller: missing $*; run as root (apt-get install $*)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
