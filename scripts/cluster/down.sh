#!/usr/bin/env bash
# down.sh DIR: stops the cluster that scripts/cluster/up.sh started in DIR and removes what it made outside DIR.
# Order: kubelet; pods (their containerd tasks); containerd; kube-scheduler and kube-controller-manager; kube-apiserver;
# etcd. Then it releases the mount namespace (and every mount in it), unmounts whatever else is mounted under DIR,
# deletes the network namespace and removes containerd's, the kubelet's and etcd's state. Logs (also the pods', in
# DIR/log), certificates and DIR/env stay in DIR.
# Idempotent: safe after a failed or partial up.sh, and a second time. Exits non-zero if something could not be removed.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cluster_paths "${1:-}"
[ "$(id -u)" = 0 ] || die "must run as root"
started=$SECONDS
problems=()

# running PID: the process exists and has not exited. Once up.sh is gone its processes are the init process's children,
# and a zombie may wait a while there before it is reaped.
running() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) && [ -n "$state" ] && [ "$state" != Z ]
}

# stop NAME GRACE: SIGTERM to the process in DIR/NAME.pid (if it is still ours), SIGKILL after GRACE seconds.
stop() {
  local name=$1 grace=$2 pid deadline
  if pid_alive "$name"; then
    pid=$(cat "$DIR/$name.pid")
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + grace))
    while running "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
    if running "$pid"; then
      log "$name (pid $pid) still running ${grace} s after SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 100); do running "$pid" || break; sleep 0.05; done
    fi
  fi
  rm -f "$DIR/$name.pid"
}

# This script's own ancestors (up.sh after a failure, a test runner that may itself run in the cluster's network
# namespace) may name DIR or share a namespace with the cluster: they are never stopped here.
ancestors=" "
pid=$$
while [ "$pid" -gt 1 ] 2>/dev/null; do
  ancestors+="$pid "
  pid=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f2 || echo 0)
done
is_ancestor() { [[ $ancestors == *" $1 "* ]]; }

# pids_with TEXT: the processes whose command line contains TEXT.
pids_with() {
  grep -laF -- "$1" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3 || true
}

# 1. The kubelet first, so it neither restarts the containers stopped next nor reports on them.
stop kubelet 10

# 2. The pods: every task (containers, then their sandboxes) of containerd's k8s.io namespace, killed and deleted,
#    which also ends their shims. Their network namespaces and the CNI state go with the mount namespace and DIR.
#    The shims' sockets (in /run/containerd/s, named after our containerd address) are noted first, see below.
task_dir=$DIR/containerd/state/io.containerd.runtime.v2.task/k8s.io
shim_sockets=$(awk '{ sub("^unix://", ""); print }' "$task_dir"/*/address 2>/dev/null | sort -u || true)
ctr=(timeout 20 ctr --address "$CONTAINERD_ADDRESS" --namespace k8s.io)
delete_tasks() {
  for task in "$@"; do "${ctr[@]}" tasks delete --force "$task" >/dev/null 2>&1 & done
  wait
}
if pid_alive containerd && [ -S "$CONTAINERD_ADDRESS" ]; then
  tasks=$("${ctr[@]}" tasks ls -q 2>/dev/null || true)
  sandboxes=" $("${ctr[@]}" containers ls -q 'labels."io.cri-containerd.kind"==sandbox' 2>/dev/null | tr '\n' ' ' || true) "
  containers=()
  for task in $tasks; do [[ $sandboxes == *" $task "* ]] || containers+=("$task"); done
  # Containers first: a sandbox's shim that loses its sandbox while containers are still being deleted exits early.
  delete_tasks "${containers[@]}"
  # shellcheck disable=SC2086 # one word per sandbox
  delete_tasks $sandboxes
fi

# 3. containerd.
stop containerd 10

# Whatever survived (containerd was gone already, or a task would not die): runc kills what is left of each container
#    and removes its cgroups; then the shims, found by the containerd address on their command line.
runc_root=$DIR/containerd/runc/k8s.io
if [ -d "$runc_root" ]; then
  for container in $(runc --root "$runc_root" list -q 2>/dev/null || true); do
    runc --root "$runc_root" delete --force "$container" >/dev/null 2>&1 || problems+=("runc delete --force $container failed")
  done
fi
shims() {
  for pid in $(pids_with "$CONTAINERD_ADDRESS"); do
    case $(cmdline "$pid") in *containerd-shim*"-address $CONTAINERD_ADDRESS "*) running "$pid" && echo "$pid" ;; esac
  done
}
# A shim told to shut down takes a moment to exit: up to 2 s before it is killed.
for _ in $(seq 40); do [ -n "$(shims)" ] || break; sleep 0.05; done
for pid in $(shims); do
  log "killing leftover shim $pid: $(cmdline "$pid")"
  kill -KILL "$pid" 2>/dev/null || true
done

for socket in $shim_sockets; do
  case $socket in /run/containerd/s/*) rm -f "$socket" ;; esac
done

# 4. The control plane, then etcd.
stop kube-scheduler 10 &
stop kube-controller-manager 10 &
wait
stop kube-apiserver 20
stop etcd 10

# 5. Anything still running in the cluster's network or mount namespace is the cluster's too.
ns_links=()
if [ -e "$NETNS_PATH" ]; then ns_links+=("$(nsenter --net="$NETNS_PATH" readlink /proc/self/ns/net 2>/dev/null || echo none)"); fi
if mountpoint -q "$MOUNT_NS_PATH" 2>/dev/null; then ns_links+=("mnt:[$(stat -L -c %i "$MOUNT_NS_PATH")]"); fi
for ns in "${ns_links[@]}"; do
  # find -lname takes a pattern: the brackets of net:[4026532…] escaped.
  pattern=$(printf '%s' "$ns" | sed 's/[][]/\\&/g')
  for pid in $(find /proc/[0-9]*/ns -maxdepth 1 -type l -lname "$pattern" 2>/dev/null | cut -d/ -f3 | sort -u); do
    is_ancestor "$pid" && continue
    running "$pid" || continue
    log "killing leftover process $pid in $ns: $(cmdline "$pid")"
    kill -KILL "$pid" 2>/dev/null || true
  done
done

# 6. Every mount under DIR: the mount namespace's file and its holder (the namespace and every mount in it, such as
#    container root filesystems, pod network namespaces and Secret volumes, go with its last process), and whatever
#    else got mounted under DIR. Deepest first; lazily if a mount is busy.
mounts_under_dir() { awk -v dir="$DIR/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r; }
for _ in 1 2 3; do
  mounts=$(mounts_under_dir)
  [ -n "$mounts" ] || break
  for mount in $mounts; do umount "$mount" 2>/dev/null || umount -l "$mount" 2>/dev/null || true; done
done
if [ -n "$(mounts_under_dir)" ]; then problems+=("still mounted: $(mounts_under_dir | tr '\n' ' ')"); fi

# 7. The network namespace (its veth pair, bridge cni0 and iptables rules go with it).
if [[ $'\n'"$(ip netns list 2>/dev/null)" == *$'\n'"$NETNS_NAME"* ]]; then
  ip netns delete "$NETNS_NAME" || problems+=("ip netns delete $NETNS_NAME failed")
fi
if [ -e "$NETNS_PATH" ]; then
  umount "$NETNS_PATH" 2>/dev/null || true
  rm -f "$NETNS_PATH" || problems+=("$NETNS_PATH could not be removed")
fi

# 8. State: containerd's (images, snapshots, runc), the kubelet's, etcd's and the CNI address allocations. The pods'
#    logs (DIR/log) stay, with the components' logs.
for state in containerd kubelet etcd cni-ipam device-plugins mntns home; do
  [ -e "$DIR/$state" ] || continue
  rm -rf --one-file-system "${DIR:?}/$state" || problems+=("$DIR/$state could not be removed")
done

# 9. Check: no process of the cluster, no mount, no namespace left. Other processes that merely name DIR (a `tail -f`
#    of a log) are reported but left alone.
for pid in $(pids_with "$DIR/"); do
  is_ancestor "$pid" && continue
  running "$pid" || continue
  case $(cat "/proc/$pid/comm" 2>/dev/null) in
    etcd | kube-* | kubelet* | containerd* | runc | nsenter | setsid) problems+=("process $pid still running: $(cmdline "$pid")") ;;
    *) log "note: process $pid names $DIR but is not part of the cluster, left running: $(cmdline "$pid")" ;;
  esac
done
[ ! -e "$NETNS_PATH" ] || problems+=("$NETNS_PATH still exists")
if [ ${#problems[@]} -gt 0 ]; then
  printf 'down.sh: %s\n' "${problems[@]}" >&2
  die "the cluster in $DIR was not completely removed (see above)"
fi
log "cluster in $DIR stopped and removed in $((SECONDS - started)) s"
