# shellcheck shell=bash disable=SC2034 # variables for the scripts that source this file
# Shared by up.sh, down.sh and import-image.sh (sourced, not run). Everything here is derived from the cluster dir, so
# down.sh finds what up.sh made even when up.sh failed before writing DIR/env.

# The fixed addresses of every cluster: each lives in its own network namespace, so two clusters never clash.
NODE_NAME=erg-node
NODE_IP=10.213.0.1
NODE_PREFIX=24
POD_CIDR=10.88.0.0/16
SERVICE_CIDR=10.96.0.0/24
KUBERNETES_SERVICE_IP=10.96.0.1
API_PORT=6443
PAUSE_IMAGE=localhost/pause:3.4
CACHE_DIR=${KUBE_APISERVER_CACHE:-/var/cache/entra-rbac-guard}
SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
  echo "$(basename "$0"): $*" >&2
  exit 1
}

log() { echo "$(basename "$0"): $*" >&2; }

# cluster_paths DIR: sets DIR (absolute) and the names derived from it.
cluster_paths() {
  [ -n "${1:-}" ] || die "usage: $0 DIR (the cluster's directory, e.g. \$(mktemp -d))"
  DIR=$(realpath -m "$1")
  # A name derived from DIR: at most 15 characters like every interface name, and the same on every call.
  NETNS_NAME=erg-$(printf '%s' "$DIR" | sha256sum | cut -c1-11)
  NETNS_PATH=/var/run/netns/$NETNS_NAME
  # containerd, its shims and the kubelet run in a mount namespace of their own, held by this bind mount.
  MOUNT_NS_PATH=$DIR/mntns/mnt
  CONTAINERD_ADDRESS=$DIR/containerd/containerd.sock
  KUBECONFIG_PATH=$DIR/kubeconfig
}

# in_netns CMD...: runs CMD in the cluster's network namespace. nsenter, not `ip netns exec`: that one remounts /sys
# and hides the cgroup mounts from containerd and the kubelet.
in_netns() { nsenter --net="$NETNS_PATH" "$@"; }

# cmdline PID: the process's command line, arguments separated by spaces (empty if it is gone).
cmdline() { { tr '\0' ' ' <"/proc/$1/cmdline"; } 2>/dev/null || true; }

# pid_alive NAME: true when DIR/NAME.pid names a live process that is still ours (its command line mentions DIR).
pid_alive() {
  local pid
  pid=$(cat "$DIR/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] || return 1
  case $(cmdline "$pid") in *"$DIR/"*) return 0 ;; *) return 1 ;; esac
}
