#!/usr/bin/env bash
# Builds a real kube-apiserver and kube-controller-manager from Debian's `kubernetes` source package, offline
# (vendor/ is in the tree), into a cache outside the repository keyed by version, and installs etcd-server.
# Used by the `apiserver` test tier (envtest-style: real etcd + kube-apiserver + controller-manager, no kubelet).
# Cold: about 8 minutes on 2 cores (measured: kube-apiserver 235 s, kube-controller-manager 94 s, plus the
# source download). Warm (binaries in the cache): well under a second.
#   tools/apiserver/build.sh           build (or find) the binaries, install etcd-server
#   tools/apiserver/build.sh --check   exit 0 when everything is there, 1 otherwise; installs nothing
# The body is one function, so editing this file while a build runs cannot change what the running bash reads.
set -euo pipefail
main() {
VERSION=1.20.2
if [ "$(id -u)" = 0 ]; then default_cache=/var/cache/lablib; else default_cache=${XDG_CACHE_HOME:-$HOME/.cache}/lablib; fi
CACHE=${LABLIB_KUBE_CACHE:-$default_cache/kube-$VERSION}
BIN=$CACHE/bin
# --check: exit 0 when everything is already there (nothing to install or build), 1 otherwise.
if [ "${1:-}" = --check ]; then
  [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ] && command -v etcd >/dev/null 2>&1
  exit
fi
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive

need_pkgs=()
command -v etcd >/dev/null 2>&1 || need_pkgs+=(etcd-server)
if [ "${1:-}" = --check ]; then
  [ ${#need_pkgs[@]} -eq 0 ] && [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ]
  return
fi
if [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kube-controller-manager" ]; then
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
  fi
  echo "apiserver binaries: $BIN (cached)"
  return 0
fi

# Debian's Go 1.19 builds Kubernetes 1.20 offline; reflect2 1.0.2 replaces the vendored 1.0.1 (crashes on Go >= 1.18).
need_pkgs+=(golang-go golang-github-modern-go-reflect2-dev dpkg-dev rsync)
src_list=/etc/apt/sources.list.d/lablib-deb-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  $SUDO tee "$src_list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/lablib-kube-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
echo "downloading Debian's kubernetes source package"
apt-get source --download-only kubernetes >/dev/null
dsc=$(ls kubernetes_*.dsc | head -n 1)
dpkg-source --no-check -x "$dsc" src >/dev/null
cd src
grep -q "gitVersion.*v$VERSION\|$VERSION" debian/changelog || echo "warning: source is not Kubernetes $VERSION"
r2=vendor/github.com/modern-go/reflect2
rm -f "$r2"/*.go "$r2"/*.s
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.go "$r2"/
cp /usr/share/gocode/src/github.com/modern-go/reflect2/*.s "$r2"/ 2>/dev/null || true
rm -f "$r2"/*_test.go
export CGO_ENABLED=0 GOFLAGS=-mod=vendor GOPROXY=off GO111MODULE=on
export KUBE_GIT_VERSION=v$VERSION KUBE_GIT_TREE_STATE=clean
for what in kube-apiserver kube-controller-manager; do
  echo "building $what (minutes; no output until it ends)"
  start=$(date +%s)
  make WHAT=cmd/$what >"$work/$what.log" 2>&1 || { tail -n 40 "$work/$what.log"; exit 1; }
  echo "built $what in $(( $(date +%s) - start )) s"
done
mkdir -p "$BIN"
cp _output/local/bin/linux/*/kube-apiserver _output/local/bin/linux/*/kube-controller-manager "$BIN"/
"$BIN/kube-apiserver" --version
echo "apiserver binaries: $BIN"
}
main "$@"
exit
