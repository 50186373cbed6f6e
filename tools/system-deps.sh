#!/usr/bin/env bash
# What `make test` needs from the system beyond Python: Debian's chromium (the real browser of the UI test)
# and fonts-noto-cjk (so it draws the Chinese notebooks' text, not boxes), hey (the peer of the
# load-generator benchmark), setpriv (acting as another local user in the ownership tests), and a real
# etcd + kube-apiserver + kube-controller-manager for the `apiserver` tier (built once from Debian's source
# package into a cache outside the repository: tools/apiserver/build.sh), and for the classroom tier a real
# JupyterHub's proxy: npm's configurable-http-proxy on Debian's nodejs (JupyterHub itself comes from PyPI).
# Installs them when it can (apt, as root or with passwordless sudo); otherwise stops at once with the
# exact command to run, before any minute is spent on the suite.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v hey >/dev/null 2>&1 || missing+=(hey)
command -v setpriv >/dev/null 2>&1 || missing+=(util-linux)
command -v ps >/dev/null 2>&1 || missing+=(procps)
# a CJK font, so the browser test renders the Chinese notebooks (labs/zh/) as text, not boxes
fc-list :lang=zh 2>/dev/null | grep -q . || missing+=(fonts-noto-cjk)
# the classroom tier: JupyterHub's proxy runs on node (npm, below, installs it)
command -v node >/dev/null 2>&1 || missing+=(nodejs)

if [ "$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi

if [ ${#missing[@]} -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$SUDO" != none ]; then
    echo "installing system packages the tests need: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "make test needs these system packages: ${missing[*]}" >&2
    if command -v apt-get >/dev/null 2>&1; then
      echo "run:  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    else
      echo "install them with your system's package manager (Debian/Ubuntu names given), then run make test" >&2
    fi
    exit 1
  fi
fi

if ! command -v npm >/dev/null 2>&1 && [ "$SUDO" != none ] && command -v apt-get >/dev/null 2>&1; then
  # Debian's nodejs comes without npm (NodeSource's brings its own); the lists may be stale when nothing
  # else was missing above
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
if ! command -v configurable-http-proxy >/dev/null 2>&1; then
  if [ "$SUDO" = none ]; then
    echo "the classroom test tier needs JupyterHub's proxy; run:  sudo npm install -g configurable-http-proxy" >&2
    exit 1
  fi
  echo "installing configurable-http-proxy (npm), JupyterHub's proxy, for the classroom tier"
  $SUDO npm install -g --silent configurable-http-proxy >/dev/null
fi

if [ "$SUDO" = none ] && ! tools/apiserver/build.sh --check >/dev/null 2>&1; then
  echo "the apiserver test tier needs etcd and a kube-apiserver built from Debian's source package;" >&2
  echo "run:  sudo tools/apiserver/build.sh    (once, about 15 minutes; later runs reuse its cache)" >&2
  exit 1
fi
tools/apiserver/build.sh
