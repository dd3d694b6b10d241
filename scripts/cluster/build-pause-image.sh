#!/usr/bin/env bash
# Builds the pod sandbox ("pause") image of the e2e cluster locally, since no registry is reachable, and caches it as an
# OCI archive. Prints the archive's path on stdout (logs on stderr); instant when cached.
#
# The program is Kubernetes' own build/pause/linux/pause.c from the Debian source tree that
# scripts/build-kube-apiserver.sh unpacks; the image is what build/pause/Dockerfile makes (FROM scratch, /pause as the
# entrypoint), built with buildah in a private, throw-away storage so no system-wide image store is touched.
# Image name: localhost/pause:3.4 (3.4 is the TAG of build/pause/Makefile in Kubernetes 1.20).
set -euo pipefail
cache_dir=${KUBE_APISERVER_CACHE:-/var/cache/entra-rbac-guard}
tag=3.4
image=localhost/pause:$tag
archive="$cache_dir/pause-$tag.oci.tar"
if [ -s "$archive" ]; then echo "$archive"; exit 0; fi

die() { echo "build-pause-image.sh: $*" >&2; exit 1; }
for tool in gcc buildah; do command -v "$tool" >/dev/null || die "$tool is not installed: apt-get install -y ${tool/gcc/gcc libc6-dev}"; done
tree=$(ls -d "$cache_dir"/src/kubernetes-*/ 2>/dev/null | head -n 1 || true)
source="${tree}build/pause/linux/pause.c"
[ -n "$tree" ] && [ -f "$source" ] || die "no Kubernetes source tree with build/pause/linux/pause.c under $cache_dir/src: run scripts/build-kube-apiserver.sh first (it unpacks Debian's kubernetes source package there)"

work=$(mktemp -d)
container=''
cleanup() {
  if [ -n "$container" ]; then buildah --root "$work/root" --runroot "$work/runroot" --storage-driver vfs rm "$container" >/dev/null 2>&1 || true; fi
  # vfs storage may hold read-only layer files; make them removable first.
  chmod -R u+w "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/context" "$cache_dir"
# The same flags as build/pause/Makefile: a static binary, so the image needs nothing but /pause.
gcc -Os -Wall -Werror -static -DVERSION="v$tag-entra-rbac-guard" -o "$work/context/pause" "$source" >&2
"$work/context/pause" -v >&2

b=(buildah --root "$work/root" --runroot "$work/runroot" --storage-driver vfs)
container=$("${b[@]}" from --quiet scratch)
"${b[@]}" copy --quiet "$container" "$work/context/pause" /pause >&2
# USER 65535 as the upstream image has since 3.5: the sandbox does not need root.
"${b[@]}" config --entrypoint '["/pause"]' --cmd '' --user 65535:65535 --os linux --arch amd64 \
  --label org.opencontainers.image.source=kubernetes/build/pause "$container" >&2
"${b[@]}" commit --quiet --format oci "$container" "$image" >&2
"${b[@]}" push --quiet "$image" "oci-archive:$archive.tmp:$image" >&2
mv "$archive.tmp" "$archive"
echo "$archive"
