#!/usr/bin/env bash
# Installs what the containerd end-to-end tests need (root only): containerd 1.7 from
# Debian 13 "trixie" (Debian 12's 1.6.20 cannot unpack Spin OCI artifacts), runc, the
# CNI plugins and protoc. The trixie suite is added with the machine's own Debian
# mirror and pinned at priority 100, so only what is asked for comes from it.
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "error: run as root (it installs containerd)" >&2; exit 1; }
want=1.7
have=$(containerd --version 2>/dev/null | awk '{print $3}' | sed 's/^v//' || true)
if [[ "$have" == $want.* ]] && command -v runc >/dev/null && command -v protoc >/dev/null \
  && [ -x /usr/lib/cni/bridge ] && command -v docker-registry >/dev/null; then
  exit 0
fi
if ! apt-cache policy containerd | grep -q "trixie"; then
  mirror=""
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '/^deb / && $0 !~ /security/ {print $2; exit}' /etc/apt/sources.list)
  fi
  [ -n "$mirror" ] || { echo "error: no Debian mirror found in the apt sources" >&2; exit 1; }
  cat > /etc/apt/sources.list.d/spin-kube-trixie.sources <<SRC
Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  cat > /etc/apt/preferences.d/spin-kube-trixie <<PIN
Package: *
Pin: release n=trixie
Pin-Priority: 100
PIN
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t trixie containerd >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc containernetworking-plugins protobuf-compiler docker-registry iproute2 >/dev/null
# The package starts a system containerd where systemd runs; the tests start their own.
containerd --version
