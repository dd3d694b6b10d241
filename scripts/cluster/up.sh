#!/usr/bin/env bash
# up.sh DIR: starts a single-node Kubernetes 1.20 cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
# containerd, kubelet) entirely inside a new network namespace, with everything it makes under DIR. Returns once the
# node is Ready and the default ServiceAccount has its token secret, and writes DIR/env (KEY=value lines).
# On failure it prints what failed with the log that says why, and stops what it started (scripts/cluster/down.sh DIR;
# ERG_CLUSTER_KEEP=1 leaves it running to look at). Run as root. See scripts/cluster/README.md.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cluster_paths "${1:-}"
START_TIMEOUT=${ERG_CLUSTER_TIMEOUT:-90}
started=$SECONDS

[ "$(id -u)" = 0 ] || die "must run as root (it creates a network namespace, mounts and cgroups)"
[ -f "$DIR/env" ] && die "$DIR/env exists: a cluster was already started in $DIR; run scripts/cluster/down.sh $DIR and use a fresh directory"
[ -e "$NETNS_PATH" ] && die "network namespace $NETNS_NAME ($NETNS_PATH) exists: a cluster in $DIR is running or was not stopped; run scripts/cluster/down.sh $DIR"

# --- Binaries -------------------------------------------------------------------------------------------------------
apiserver_bin=$CACHE_DIR/kube-apiserver-reflect2-go118
[ -x "$apiserver_bin" ] || die "$apiserver_bin is missing: build it once with scripts/build-kube-apiserver.sh (about 9 minutes)"
for component in kubelet kube-controller-manager kube-scheduler; do
  [ -x "$CACHE_DIR/$component-reflect2-go118" ] || die "$CACHE_DIR/$component-reflect2-go118 is missing: build it once with scripts/build-kube-components.sh (about 4.5 minutes)"
done
for tool in etcd containerd containerd-shim-runc-v2 runc ctr nsenter setsid ip iptables openssl curl kubectl; do
  command -v "$tool" >/dev/null || die "$tool is not on the PATH (Debian packages: etcd-server containerd runc iptables openssl curl util-linux iproute2; kubectl from the Google Cloud SDK or upstream)"
done
for plugin in bridge host-local loopback; do
  [ -x "/usr/lib/cni/$plugin" ] || die "/usr/lib/cni/$plugin is missing: apt-get install -y containernetworking-plugins"
done
pause_archive=$("$SCRIPTS_DIR/build-pause-image.sh") || die "building the pause image failed (see above)"

# --- Failure handling -----------------------------------------------------------------------------------------------
current_step='preparing'
# The caller's stderr, kept: a signal may arrive while a check runs with its output sent to /dev/null, and the exit
# trap then inherits that redirection.
exec 9>&2
on_exit() {
  local code=$?
  [ "$code" = 0 ] && return
  exec 2>&9 1>&2
  echo "up.sh: FAILED while $current_step (exit $code, after $((SECONDS - started)) s). Logs are in $DIR/*.log." >&2
  if [ -n "${ERG_CLUSTER_KEEP:-}" ]; then
    echo "up.sh: ERG_CLUSTER_KEEP is set: the cluster is left as it is; stop it with scripts/cluster/down.sh $DIR" >&2
  else
    echo "up.sh: stopping what was started (scripts/cluster/down.sh $DIR; set ERG_CLUSTER_KEEP=1 to keep it)" >&2
    "$SCRIPTS_DIR/down.sh" "$DIR" >&2 || true
  fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fail WHAT LOG: the error for a component that did not come up, with the end of its log.
fail() {
  echo "up.sh: $1" >&2
  if [ -n "${2:-}" ] && [ -f "$2" ]; then
    echo "--- last lines of $2 ---" >&2
    tail -n 30 "$2" >&2
    echo "---" >&2
  fi
  exit 1
}

# start NAME CMD...: runs CMD in the network namespace (containerd and the kubelet: also in the mount namespace), in
# its own session (a Ctrl-C meant for the caller does not kill it halfway; down.sh stops it), output to DIR/NAME.log,
# its pid in DIR/NAME.pid.
start() {
  local name=$1 namespaces=(--net="$NETNS_PATH")
  shift
  case $name in containerd | kubelet) namespaces+=(--mount="$MOUNT_NS_PATH") ;; esac
  setsid sh -c 'echo $$ >"$0"; exec "$@"' "$DIR/$name.pid" nsenter "${namespaces[@]}" "$@" </dev/null >"$DIR/$name.log" 2>&1 9>&- &
}

# wait_for NAME WHAT CHECK...: polls CHECK (a command) until it succeeds; fails early when process NAME is gone.
wait_for() {
  local name=$1 what=$2
  shift 2
  local deadline=$((SECONDS + START_TIMEOUT))
  current_step="waiting for $what"
  until "$@" >/dev/null 2>&1; do
    # The pid file is written by the child itself: give it a moment before concluding it died.
    if [ -f "$DIR/$name.pid" ] && ! pid_alive "$name"; then fail "$name exited while waiting for $what" "$DIR/$name.log"; fi
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${START_TIMEOUT} s waiting for $what" "$DIR/$name.log"
    sleep 0.25
  done
  timings+="$what: $((SECONDS - started)) s; "
}
timings=''

# --- Network namespace ----------------------------------------------------------------------------------------------
mkdir -p "$DIR"
current_step="creating network namespace $NETNS_NAME"
ip netns add "$NETNS_NAME"
echo "$NETNS_NAME" >"$DIR/netns-name"
ip -n "$NETNS_NAME" link set lo up
# The node's address on a veth pair whose both ends stay in the namespace (no dummy module in this kernel).
ip -n "$NETNS_NAME" link add erg0 type veth peer name erg1
ip -n "$NETNS_NAME" addr add "$NODE_IP/$NODE_PREFIX" dev erg0
ip -n "$NETNS_NAME" link set erg0 up
ip -n "$NETNS_NAME" link set erg1 up
# Service addresses route towards the node's link, so the DNAT below also applies to the node's own processes.
ip -n "$NETNS_NAME" route add "$SERVICE_CIDR" dev erg0
# No kube-proxy: the one Service pods need, kubernetes.default (10.96.0.1:443), is rewritten to the API server.
for chain in PREROUTING OUTPUT; do
  in_netns iptables -w -t nat -A "$chain" -d "$KUBERNETES_SERVICE_IP/32" -p tcp --dport 443 \
    -j DNAT --to-destination "$NODE_IP:$API_PORT" -m comment --comment "erg: kubernetes.default without kube-proxy"
done

# --- Mount namespace of containerd, its shims and the kubelet ------------------------------------------------------
# Their mounts (container root filesystems, pod network namespaces, Secret volumes) stay out of the VM's mount table and
# vanish with the namespace. Paths the kubelet 1.20 hard-codes get this cluster's own directories there: without that,
# two clusters on one VM share /var/log/pods, and each kubelet's garbage collector deletes the other's pod logs.
current_step='creating the mount namespace'
mkdir -p "$DIR/mntns" "$DIR/log/pods" "$DIR/log/containers" "$DIR/device-plugins"
mkdir -p /var/log/pods /var/log/containers /var/lib/kubelet/device-plugins
mount --bind "$DIR/mntns" "$DIR/mntns"
# A namespace file can only be bind-mounted on a private mount.
mount --make-private "$DIR/mntns"
touch "$MOUNT_NS_PATH"
unshare --mount="$MOUNT_NS_PATH" --propagation private bash -s "$DIR" <<'EOF'
set -euo pipefail
dir=$1
# Copies of other namespaces' bind mounts (other clusters' network and mount namespaces) would keep those alive.
for ns in $(awk '{ for (i = 7; $i != "-"; i++); if ($(i + 1) == "nsfs") print $5 }' /proc/self/mountinfo | sort -r); do
  umount "$ns" 2>/dev/null || umount -l "$ns" 2>/dev/null || true
done
mount --bind "$dir/log/pods" /var/log/pods
mount --bind "$dir/log/containers" /var/log/containers
mount --bind "$dir/device-plugins" /var/lib/kubelet/device-plugins
EOF

# --- Certificates, keys and kubeconfigs -----------------------------------------------------------------------------
current_step='creating certificates'
pki=$DIR/pki
mkdir -p "$pki" "$DIR/home"
chmod 700 "$pki"
openssl_quiet() { openssl "$@" 2>>"$DIR/openssl.log" || fail "openssl $1 failed" "$DIR/openssl.log"; }
new_key() { openssl_quiet genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/$1.key"; }
new_key ca
openssl_quiet req -x509 -new -key "$pki/ca.key" -subj "/CN=entra-rbac-guard-e2e-ca" -days 3650 -out "$pki/ca.crt" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
# cert NAME SUBJECT USAGE [SAN]: a key and a certificate signed by the CA.
cert() {
  local name=$1 subject=$2 usage=$3 san=${4:-}
  new_key "$name"
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$usage"
    [ -z "$san" ] || echo "subjectAltName=$san"
  } >"$pki/$name.ext"
  openssl_quiet req -new -key "$pki/$name.key" -subj "$subject" -out "$pki/$name.csr"
  openssl_quiet x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
    -days 3650 -extfile "$pki/$name.ext" -out "$pki/$name.crt"
  rm -f "$pki/$name.csr" "$pki/$name.ext"
}
cert apiserver "/CN=kube-apiserver" serverAuth \
  "IP:$NODE_IP,IP:$KUBERNETES_SERVICE_IP,IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
cert kubelet "/CN=$NODE_NAME" serverAuth "IP:$NODE_IP,DNS:$NODE_NAME"
cert kubelet-client "/O=system:nodes/CN=system:node:$NODE_NAME" clientAuth
cert controller-manager "/CN=system:kube-controller-manager" clientAuth
cert scheduler "/CN=system:kube-scheduler" clientAuth
cert admin "/O=system:masters/CN=erg-admin" clientAuth
new_key sa
openssl_quiet pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub"
# A user with no RBAC grant at all (kubeconfig context "developer"), as in test/e2e/harness.ts.
developer_token=$(openssl rand -hex 24)
echo "$developer_token,erg-developer,erg-developer-uid" >"$pki/tokens.csv"
chmod 600 "$pki"/*.key "$pki/tokens.csv"

API_SERVER=https://$NODE_IP:$API_PORT
# kubeconfig FILE USER CERT: a kubeconfig that talks to the API server with the client certificate pki/CERT.crt.
kubeconfig() {
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: erg-e2e
  cluster:
    server: $API_SERVER
    certificate-authority: $pki/ca.crt
users:
- name: $2
  user:
    client-certificate: $pki/$3.crt
    client-key: $pki/$3.key
contexts:
- name: $2
  context:
    cluster: erg-e2e
    user: $2
current-context: $2
EOF
  chmod 600 "$1"
}
mkdir -p "$DIR/kubelet"
kubeconfig "$DIR/controller-manager.kubeconfig" controller-manager controller-manager
kubeconfig "$DIR/scheduler.kubeconfig" scheduler scheduler
kubeconfig "$DIR/kubelet/kubeconfig" kubelet kubelet-client
# kubectl's: context "admin" (the current one, in system:masters) and context "developer" (a token, no RBAC grant).
kubeconfig "$KUBECONFIG_PATH" admin admin
kubectl --kubeconfig "$KUBECONFIG_PATH" config set-credentials developer --token="$developer_token" >/dev/null
kubectl --kubeconfig "$KUBECONFIG_PATH" config set-context developer --cluster=erg-e2e --user=developer >/dev/null
kubectl_admin() { in_netns env HOME="$DIR/home" kubectl --kubeconfig "$KUBECONFIG_PATH" --request-timeout=10s "$@"; }

# --- etcd and containerd (independent of each other: started together) ----------------------------------------------
current_step='starting etcd'
start etcd etcd --name=erg --data-dir="$DIR/etcd" \
  --listen-client-urls=http://127.0.0.1:2379 --advertise-client-urls=http://127.0.0.1:2379 \
  --listen-peer-urls=http://127.0.0.1:2380 --initial-advertise-peer-urls=http://127.0.0.1:2380 \
  --initial-cluster=erg=http://127.0.0.1:2380 --log-level=warn --logger=zap

current_step='starting containerd'
mkdir -p "$DIR/containerd" "$DIR/cni" "$DIR/cni-ipam"
sed -e "s|@DIR@|$DIR|g" -e "s|@PAUSE_IMAGE@|$PAUSE_IMAGE|g" "$SCRIPTS_DIR/containerd.toml" >"$DIR/containerd/config.toml"
sed -e "s|@DIR@|$DIR|g" -e "s|@POD_CIDR@|$POD_CIDR|g" "$SCRIPTS_DIR/cni.conflist" >"$DIR/cni/10-erg-bridge.conflist"
start containerd containerd --config "$DIR/containerd/config.toml"

wait_for etcd 'etcd to be healthy' in_netns curl -sf http://127.0.0.1:2379/health

# --- Control plane --------------------------------------------------------------------------------------------------
cat >"$DIR/audit-policy.yaml" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    resources: [{group: rbac.authorization.k8s.io}]
  - level: None
EOF
current_step='starting kube-apiserver'
start kube-apiserver "$apiserver_bin" \
  --advertise-address="$NODE_IP" --bind-address=0.0.0.0 --secure-port="$API_PORT" --insecure-port=0 \
  --etcd-servers=http://127.0.0.1:2379 \
  --cert-dir="$pki/apiserver-generated" \
  --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" --token-auth-file="$pki/tokens.csv" \
  --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
  --service-cluster-ip-range="$SERVICE_CIDR" \
  --service-account-issuer=https://kubernetes.default.svc.cluster.local \
  --service-account-key-file="$pki/sa.pub" --service-account-signing-key-file="$pki/sa.key" \
  --kubelet-client-certificate="$pki/apiserver-kubelet-client.crt" --kubelet-client-key="$pki/apiserver-kubelet-client.key" \
  --kubelet-certificate-authority="$pki/ca.crt" \
  --kubelet-preferred-address-types=InternalIP \
  --enable-aggregator-routing=true \
  --audit-policy-file="$DIR/audit-policy.yaml" --audit-log-path="$DIR/audit.log" \
  --profiling=false

# Meanwhile: the pause image into containerd, which must have it before the kubelet asks for a sandbox.
wait_for containerd 'containerd to answer' ctr --address "$CONTAINERD_ADDRESS" version
current_step="importing $PAUSE_IMAGE into containerd"
"$SCRIPTS_DIR/import-image.sh" "$DIR" "$pause_archive" >/dev/null

# --- kubelet (started now: it retries until the API server answers, and its own start-up takes seconds) ----------
current_step='starting the kubelet'
printf '# No DNS server in the e2e cluster: pods use KUBERNETES_SERVICE_HOST.\n' >"$DIR/resolv.conf"
sed -e "s|@DIR@|$DIR|g" -e "s|@NODE_IP@|$NODE_IP|g" "$SCRIPTS_DIR/kubelet-config.yaml" >"$DIR/kubelet/config.yaml"
start kubelet "$CACHE_DIR/kubelet-reflect2-go118" \
  --config="$DIR/kubelet/config.yaml" --kubeconfig="$DIR/kubelet/kubeconfig" \
  --root-dir="$DIR/kubelet" --cert-dir="$DIR/kubelet/pki" \
  --container-runtime=remote --container-runtime-endpoint="unix://$CONTAINERD_ADDRESS" \
  --pod-infra-container-image="$PAUSE_IMAGE" \
  --node-ip="$NODE_IP" --hostname-override="$NODE_NAME" \
  --v=1

apiserver_ready() {
  [ "$(in_netns curl -sf --cacert "$pki/ca.crt" --cert "$pki/admin.crt" --key "$pki/admin.key" "$API_SERVER/readyz")" = ok ]
}
wait_for kube-apiserver 'kube-apiserver /readyz' apiserver_ready

# The controller manager gives up when the API server is not healthy within 10 s: started only now.
current_step='starting kube-controller-manager and kube-scheduler'
start kube-controller-manager "$CACHE_DIR/kube-controller-manager-reflect2-go118" \
  --kubeconfig="$DIR/controller-manager.kubeconfig" \
  --authentication-kubeconfig="$DIR/controller-manager.kubeconfig" --authorization-kubeconfig="$DIR/controller-manager.kubeconfig" \
  --bind-address=127.0.0.1 --port=0 --leader-elect=false \
  --use-service-account-credentials=true \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --cluster-signing-cert-file="$pki/ca.crt" --cluster-signing-key-file="$pki/ca.key" \
  --client-ca-file="$pki/ca.crt" \
  --profiling=false
start kube-scheduler "$CACHE_DIR/kube-scheduler-reflect2-go118" \
  --kubeconfig="$DIR/scheduler.kubeconfig" \
  --authentication-kubeconfig="$DIR/scheduler.kubeconfig" --authorization-kubeconfig="$DIR/scheduler.kubeconfig" \
  --bind-address=127.0.0.1 --port=0 --leader-elect=false \
  --profiling=false

wait_for kube-scheduler 'kube-scheduler /healthz' in_netns curl -sfk https://127.0.0.1:10259/healthz
node_ready() {
  [ "$(kubectl_admin get node "$NODE_NAME" -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}')" = True ]
}
wait_for kubelet "node $NODE_NAME to be Ready" node_ready
default_token() {
  [ -n "$(kubectl_admin get serviceaccount default --namespace default -o 'jsonpath={.secrets[0].name}')" ]
}
wait_for kube-controller-manager 'the default ServiceAccount token secret (kube-controller-manager)' default_token

# --- Done -----------------------------------------------------------------------------------------------------------
current_step="writing $DIR/env"
cat >"$DIR/env.tmp" <<EOF
CLUSTER_DIR=$DIR
NETNS_NAME=$NETNS_NAME
NETNS_PATH=$NETNS_PATH
MOUNT_NS_PATH=$MOUNT_NS_PATH
KUBECONFIG=$KUBECONFIG_PATH
NODE_NAME=$NODE_NAME
NODE_IP=$NODE_IP
API_SERVER=$API_SERVER
CA_CERT=$pki/ca.crt
CONTAINERD_ADDRESS=$CONTAINERD_ADDRESS
POD_CIDR=$POD_CIDR
SERVICE_CIDR=$SERVICE_CIDR
KUBERNETES_SERVICE_IP=$KUBERNETES_SERVICE_IP
PAUSE_IMAGE=$PAUSE_IMAGE
EOF
mv "$DIR/env.tmp" "$DIR/env"
log "cluster up in $((SECONDS - started)) s: node $NODE_NAME Ready at $NODE_IP in network namespace $NETNS_NAME; . $DIR/env"
log "(after: ${timings%; })"
