#!/usr/bin/env bash
# make cluster-e2e: the image built from the Dockerfile, the chart installed with helm into a real single-node
# Kubernetes 1.20 cluster (kubelet, containerd, runc, bridge CNI) inside a network namespace of its own, and the tests
# of test/cluster/*.cluster.ts driving it with kubectl, helm and @kubernetes/client-node from inside that namespace.
# Needs root. Builds (once, cached in /var/cache/entra-rbac-guard) kube-apiserver, kubelet, kube-controller-manager
# and kube-scheduler from Debian's kubernetes source package, the base-image stand-ins and the pause image; installs
# the Debian packages it needs. Ends with one line that any run can be compared with (docs/development.md, "Cluster end-to-end tests").
#   CLUSTER_E2E='regex'   runs only the test files whose name matches (e.g. CLUSTER_E2E='1-chart|2-rolling')
#   ERG_CLUSTER_KEEP=1    leaves the cluster running afterwards (stop it with scripts/cluster/down.sh DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
[ "$(id -u)" = 0 ] || { echo "make cluster-e2e: must run as root (network namespace, containerd, kubelet)" >&2; exit 1; }

packages=(etcd-server containerd runc containernetworking-plugins buildah debootstrap iptables conntrack openssl curl)
missing=()
for package in "${packages[@]}"; do dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "cluster-e2e: installing ${missing[*]}" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

scripts/build-kube-apiserver.sh >/dev/null
scripts/build-kube-components.sh >/dev/null
helm=$(scripts/get-helm.sh)

work=$(mktemp -d /tmp/entra-rbac-guard-cluster-e2e.XXXXXX)
cleanup() {
  if [ -n "${ERG_CLUSTER_KEEP:-}" ]; then
    echo "cluster-e2e: ERG_CLUSTER_KEEP is set: the cluster in $work keeps running; stop it with scripts/cluster/down.sh $work" >&2
  else
    scripts/cluster/down.sh "$work" >&2 || true
    rm -rf "$work"
  fi
}
trap cleanup EXIT

# The chart's default image reference, so that `helm install` with default values runs the image built here.
version=$(node -p "require('./package.json').version")
image_line=$(BUILD_IMAGE_REFERENCE="ghcr.io/entra-rbac-guard/entra-rbac-guard:$version" scripts/cluster/build-image.sh "$work/image" | tail -n 1)
echo "cluster-e2e: image built ($image_line) after $((SECONDS - started)) s" >&2
scripts/cluster/up.sh "$work"
# shellcheck disable=SC1091
. "$work/env"
scripts/cluster/import-image.sh "$work" "$work/image/entra-rbac-guard.oci.tar"
echo "cluster-e2e: cluster up, image imported after $((SECONDS - started)) s" >&2

pattern="${CLUSTER_E2E:-.}"
log="$work/uvu.log"
status=0
nsenter --net="$NETNS_PATH" env KUBECONFIG="$KUBECONFIG" HELM="$helm" CLUSTER_E2E_FIGURES="$work/figures.json" \
  CLUSTER_E2E_PATTERN="$pattern" node_modules/.bin/node --import tsx node_modules/uvu/bin.js test "cluster/.*($pattern).*\\.cluster\\.ts\$" 2>&1 | tee "$log" || status=$?
[ -f "$work/figures.json" ] || echo '{}' > "$work/figures.json"

plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
total=$(grep -E '^\s*Total:' <<<"$plain" | awk '{sum += $2} END {print sum + 0}')
passed=$(grep -E '^\s*Passed:' <<<"$plain" | awk '{sum += $2} END {print sum + 0}')
[ "$total" -gt 0 ] || { echo "cluster-e2e: no test ran" >&2; status=1; }
node -e '
  const f = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const v = (key) => (f[key] ?? "-");
  const [passed, total, seconds] = process.argv.slice(2).map(Number);
  console.log(`cluster-e2e: ${passed} passed, ${total - passed} failed; rolling restart: ${v("rollingRestartAdmissions")} admissions, ${v("rollingRestartFailed")} failed; ` +
    `large-update burst: ${v("burstUpdates")} updates, ${v("burstFailed")} failed; OOM kills: ${v("oomKills")}; ` +
    `create p99 ms: none ${v("createP99None")} bare ${v("createP99Bare")} ours ${v("createP99Ours")}`);
  console.error(`(figures: ${JSON.stringify(f)}; ${seconds} s in all)`);
' "$work/figures.json" "$passed" "$total" "$((SECONDS - started))"
exit "$status"
