#!/usr/bin/env bash
# Builds kube-apiserver from Debian's `kubernetes` source package once and caches the binary outside the repo.
# Prints the binary's path. About 9 minutes on 2 cores the first time; instant afterwards.
set -euo pipefail
cache_dir=${KUBE_APISERVER_CACHE:-/var/cache/entra-rbac-guard}
# The name says how it was built: a binary from before the reflect2 patch (plain `kube-apiserver`) is never reused.
binary="$cache_dir/kube-apiserver-reflect2-go118"
scripts=$(cd "$(dirname "$0")" && pwd)
if [ -x "$binary" ]; then echo "$binary"; exit 0; fi

mkdir -p "$cache_dir"
if [ ! -f /etc/apt/sources.list.d/debian-src.sources ]; then
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > /etc/apt/sources.list.d/debian-src.sources
fi
apt-get update -qq >&2
# rsync must be there before the build: without it a generator is left empty and make fails until _output is removed.
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go rsync jq dpkg-dev >&2

work="$cache_dir/src"
mkdir -p "$work"
cd "$work"
if ! ls -d kubernetes-*/ >/dev/null 2>&1; then apt-get source -qq kubernetes >&2; fi
tree=$(ls -d "$work"/kubernetes-*/ | head -n 1)
cd "$tree"
# Debian's Go is 1.18 or later; the vendored modern-go/reflect2 1.0.1 then crashes the API server on the first custom
# resource (PolicyReports in the audit tests). The patch is reflect2 1.0.2's fix; it is idempotent.
"$scripts/patch-reflect2-go118.sh" "$tree" >&2
mkdir -p .go/src/k8s.io
[ -e .go/src/k8s.io/kubernetes ] || ln -s ../../.. .go/src/k8s.io/kubernetes
cd .go/src/k8s.io/kubernetes
export GOPATH="$tree/.go" GO111MODULE=off GOFLAGS=-mod=vendor
make WHAT=cmd/kube-apiserver >&2
cp "$(find _output -type f -name kube-apiserver -perm -u+x | head -n 1)" "$binary"
echo "$binary"
