#!/usr/bin/env bash
# Builds kubelet, kube-controller-manager and kube-scheduler 1.20 from the Debian `kubernetes` source tree that
# scripts/build-kube-apiserver.sh unpacks and patches, and caches them next to kube-apiserver (named like
# kubelet-reflect2-go118) for the single-node cluster of scripts/cluster/up.sh. Prints the cache dir on stdout, logs on
# stderr. About 4.5 minutes on 2 cores the first time (after kube-apiserver's build); instant afterwards. Run as root.
set -euo pipefail
cache_dir=${KUBE_APISERVER_CACHE:-/var/cache/entra-rbac-guard}
scripts=$(cd "$(dirname "$0")" && pwd)
components=(kubelet kube-controller-manager kube-scheduler)
missing=()
for component in "${components[@]}"; do
  [ -x "$cache_dir/$component-reflect2-go118" ] || missing+=("$component")
done
if [ ${#missing[@]} -eq 0 ]; then echo "$cache_dir"; exit 0; fi

# The same tree, patch and toolchain as kube-apiserver: that script fetches and patches the source (and builds
# kube-apiserver, which the cluster needs anyway; instant when cached).
"$scripts/build-kube-apiserver.sh" >/dev/null || {
  echo "build-kube-components.sh: scripts/build-kube-apiserver.sh failed (see above): the source tree is not ready" >&2
  exit 1
}
tree=$(ls -d "$cache_dir"/src/kubernetes-*/ | head -n 1)
tree=${tree%/}
# Idempotent; already applied by build-kube-apiserver.sh, repeated so a tree unpacked by hand is patched too.
"$scripts/patch-reflect2-go118.sh" "$tree" >&2
mkdir -p "$tree/.go/src/k8s.io"
[ -e "$tree/.go/src/k8s.io/kubernetes" ] || ln -s ../../.. "$tree/.go/src/k8s.io/kubernetes"
cd "$tree/.go/src/k8s.io/kubernetes"
export GOPATH="$tree/.go" GO111MODULE=off GOFLAGS=-mod=vendor
what=$(printf 'cmd/%s ' "${missing[@]}")
echo "build-kube-components.sh: make WHAT=\"${what% }\" in $tree (about 4.5 minutes)" >&2
make WHAT="${what% }" >&2 || {
  echo "build-kube-components.sh: make WHAT=\"${what% }\" failed in $tree (output above). If a generator complains, remove $tree/_output and run again." >&2
  exit 1
}
for component in "${missing[@]}"; do
  built=$(find _output -type f -name "$component" -perm -u+x | head -n 1)
  [ -n "$built" ] || { echo "build-kube-components.sh: make succeeded but no $component binary is under $tree/_output" >&2; exit 1; }
  cp "$built" "$cache_dir/$component-reflect2-go118.tmp"
  mv "$cache_dir/$component-reflect2-go118.tmp" "$cache_dir/$component-reflect2-go118"
done
echo "$cache_dir"
