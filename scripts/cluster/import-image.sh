#!/usr/bin/env bash
# import-image.sh DIR ARCHIVE: imports an image archive (OCI, e.g. `buildah push IMAGE oci-archive:FILE:NAME`, or a
# `docker save` archive) into the containerd of the cluster in DIR, namespace k8s.io, where the kubelet finds it.
# The image keeps the name recorded in the archive (org.opencontainers.image.ref.name must be a full name such as
# localhost/entra-rbac-guard:dev); pods then use that name with imagePullPolicy Never or IfNotPresent.
# Prints the names of the imported images on stdout (for an OCI archive; ctr's own output goes to stderr).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
cluster_paths "${1:-}"
archive=${2:-}
[ -n "$archive" ] || die "usage: $0 DIR ARCHIVE (an OCI or docker image archive)"
[ -f "$archive" ] || die "$archive does not exist"
[ -S "$CONTAINERD_ADDRESS" ] || die "no containerd socket at $CONTAINERD_ADDRESS: is the cluster in $DIR up (scripts/cluster/up.sh $DIR)?"

# ctr import names an OCI image after its ref.name annotation only when that name starts with --base-name (without
# --base-name it keeps only names starting with "import-<date>"). So read the names and pass each as the base.
names=$(tar -xOf "$archive" index.json 2>/dev/null |
  grep -o '"org.opencontainers.image.ref.name": *"[^"]*"' | sed 's/.*: *"\(.*\)"/\1/' || true)
ctr=(ctr --address "$CONTAINERD_ADDRESS" --namespace k8s.io)
if [ -z "$names" ]; then
  # A docker archive (manifest.json with RepoTags): ctr takes the names from it and says which ("unpacking NAME …").
  "${ctr[@]}" images import "$archive" >&2 || die "ctr images import $archive failed (output above)"
  exit 0
fi
for name in $names; do
  case $name in
    */*:* | */*@*) ;;
    *) die "$archive names its image \"$name\", not a full reference such as localhost/NAME:TAG: push it again with buildah push IMAGE oci-archive:$archive:localhost/NAME:TAG" ;;
  esac
  # The name without its tag (or digest): ctr's --base-name.
  base=${name%@*}
  [ "$base" != "$name" ] || base=${name%:*}
  "${ctr[@]}" images import --base-name "$base" "$archive" >&2 || die "ctr images import $archive failed (output above)"
  # (The list first, then the match: `ctr … | grep -q` can fail under pipefail when grep stops reading early.)
  images=$("${ctr[@]}" images ls -q)
  [[ $'\n'"$images"$'\n' == *$'\n'"$name"$'\n'* ]] || die "ctr imported $archive but no image is named $name (ctr images ls: $(tr '\n' ' ' <<<"$images"))"
  echo "$name"
done
