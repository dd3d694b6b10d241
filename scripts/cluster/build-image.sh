#!/usr/bin/env bash
# Builds the entra-rbac-guard container image from the repository's own, unchanged Dockerfile with buildah, without any
# container registry, and writes it as an OCI archive for `ctr -n k8s.io images import`.
#
#   scripts/cluster/build-image.sh OUT_DIR
#
# Writes OUT_DIR/entra-rbac-guard.oci.tar and prints one line on stdout:
#   IMAGE=localhost/entra-rbac-guard:<package.json version>
# the name containerd gives the image after the import (use it as a Pod's image: with imagePullPolicy: Never).
# Everything else goes to stderr.
#
# The Dockerfile's two base images cannot be pulled here, so local stand-ins are built first and tagged with exactly
# the names the Dockerfile uses (see scripts/cluster/images/README.md):
#   docker.io/library/node:<major>-bookworm-slim      Debian bookworm minbase (debootstrap) + the project's pinned
#                                                     Node.js binary + npm, like the official image
#   gcr.io/distroless/nodejs<major>-debian12:nonroot  distroless-shaped, from scratch: node at /nodejs/bin/node, its
#                                                     shared libraries, CA certificates, passwd/group, user 65532
# They are cached under ${KUBE_APISERVER_CACHE:-/var/cache/entra-rbac-guard}/images/ (a debootstrap root tarball and
# one OCI archive per stand-in, named by a stamp of everything that goes into them), so only the first run
# debootstraps (about 1 minute). The application image is rebuilt on every run. `rm -rf` that directory to start over.
#
# Needs root, buildah, debootstrap (first run), node and npm (to read package-lock.json; `npm pack` when node_modules
# is not installed), git. Environment:
#   KUBE_APISERVER_CACHE     cache root (default /var/cache/entra-rbac-guard)
#   BUILD_IMAGE_ISOLATION    buildah --isolation for RUN steps (default chroot; oci uses runc)
#   BUILD_IMAGE_NETWORK      buildah --network for RUN steps (default host: npm ci reaches the registry like the host)
#   DEBIAN_MIRROR            debootstrap mirror (default http://deb.debian.org/debian)
#   BUILD_IMAGE_REFERENCE    the image's name (default localhost/entra-rbac-guard:<version>); make cluster-e2e gives
#                            the chart's default image, so the chart installs with its default values
set -euo pipefail

readonly app_name=entra-rbac-guard
readonly archive_name=entra-rbac-guard.oci.tar
readonly stamp_label=io.github.entra-rbac-guard.stand-in-stamp

step="starting"
hint=""
tmp=""
containers=()

log() { printf '[build-image] %s\n' "$*" >&2; }
die() {
  printf '[build-image] ERROR: %s\n' "$1" >&2
  [ -z "${2:-}" ] || printf '[build-image] To fix: %s\n' "$2" >&2
  step=""
  exit 1
}
# Names the step (logged) and what to do if it fails (printed by the exit trap).
begin() {
  step=$1
  hint=${2:-}
  log "$step"
}
cleanup() {
  local rc=$?
  local c
  for c in "${containers[@]}"; do
    [ -n "$c" ] || continue
    buildah umount "$c" >/dev/null 2>&1 || true
    buildah rm "$c" >/dev/null 2>&1 || true
  done
  if [ -n "$tmp" ] && [ -d "$tmp" ]; then rm -rf "$tmp"; fi
  if [ "$rc" -ne 0 ] && [ -n "$step" ]; then
    printf '[build-image] FAILED (exit %s) while: %s\n' "$rc" "$step" >&2
    [ -z "$hint" ] || printf '[build-image] To fix: %s\n' "$hint" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

usage() {
  printf 'usage: %s OUT_DIR\n  builds the %s image and writes OUT_DIR/%s; prints IMAGE=<reference> on stdout\n' \
    "$0" "$app_name" "$archive_name" >&2
}

# --- arguments and preflight ---------------------------------------------------------------------------------------

if [ "$#" -ne 1 ] || [ -z "$1" ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  usage
  step=""
  exit 2
fi
out_dir=$1

[ "$(id -u)" -eq 0 ] ||
  die "must run as root (buildah's image store in /var/lib/containers, debootstrap and chroot need it)" \
    "run it as root: sudo $0 $out_dir"

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed" "apt-get install -y $2"
}
need buildah buildah
need git git
need node nodejs
need npm npm
need tar tar
need sha256sum coreutils
need flock util-linux
need chroot coreutils

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for f in Dockerfile package.json package-lock.json; do
  [ -f "$repo/$f" ] || die "no $f in $repo" "keep this script at scripts/cluster/ in the entra-rbac-guard repository"
done

case "$(uname -m)" in
  x86_64) node_arch=x64 oci_arch=amd64 ;;
  aarch64) node_arch=arm64 oci_arch=arm64 ;;
  *) die "unsupported machine $(uname -m)" "build on x86_64 or aarch64" ;;
esac

isolation=${BUILD_IMAGE_ISOLATION:-chroot}
network=${BUILD_IMAGE_NETWORK:-host}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache_root=${KUBE_APISERVER_CACHE:-/var/cache/entra-rbac-guard}
cache_dir="$cache_root/images"

# --- what the Dockerfile and the lockfile ask for ------------------------------------------------------------------

begin "reading Dockerfile, package.json and package-lock.json" \
  "the Dockerfile's base images or the pinned node devDependency changed; update this script to match"
node_major=$(sed -n 's/^ARG NODE_MAJOR=\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$repo/Dockerfile" | head -n 1)
[ -n "$node_major" ] || die "the Dockerfile has no 'ARG NODE_MAJOR=<n>'" "$hint"
# The stand-ins carry exactly the names the Dockerfile's FROM lines resolve to.
# shellcheck disable=SC2016 # ${NODE_MAJOR} is the Dockerfile's text
if ! grep -q '^FROM node:${NODE_MAJOR}-bookworm-slim AS build' "$repo/Dockerfile" ||
  ! grep -q '^FROM gcr.io/distroless/nodejs${NODE_MAJOR}-debian12:nonroot$' "$repo/Dockerfile"; then
  die "the Dockerfile's FROM lines are not node:\${NODE_MAJOR}-bookworm-slim and gcr.io/distroless/nodejs\${NODE_MAJOR}-debian12:nonroot" "$hint"
fi
node_image="docker.io/library/node:${node_major}-bookworm-slim"
distroless_image="gcr.io/distroless/nodejs${node_major}-debian12:nonroot"

read_json() { node -e 'const o = require(process.argv[1]); const v = process.argv[2].split("|").reduce((a, k) => a?.[k], o); if (v === undefined) process.exit(1); console.log(v)' "$@"; }
node_version=$(read_json "$repo/package-lock.json" 'packages|node_modules/node|version') ||
  die "package-lock.json pins no node devDependency (packages[\"node_modules/node\"])" "$hint"
[ "${node_version%%.*}" = "$node_major" ] ||
  die "package-lock.json pins Node.js $node_version but the Dockerfile uses Node.js $node_major" \
    "make the node devDependency and the Dockerfile's NODE_MAJOR agree"
app_version=$(read_json "$repo/package.json" 'version') || die "package.json has no version" "$hint"
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null) ||
  die "cannot read the git revision of $repo" "run it in a git checkout (git rev-parse HEAD must work)"
image_ref="${BUILD_IMAGE_REFERENCE:-localhost/${app_name}:${app_version}}"
log "Node.js $node_version (Dockerfile NODE_MAJOR=$node_major), $app_name $app_version at $revision"
if [ -n "$(git -C "$repo" status --porcelain -- Dockerfile package.json package-lock.json tsconfig.json tsconfig.build.json src 2>/dev/null)" ]; then
  log "note: the build context has uncommitted changes; REVISION=$revision does not describe them"
fi

# --- cache, lock, scratch space ------------------------------------------------------------------------------------

begin "preparing the cache in $cache_dir" "make $cache_root writable, or set KUBE_APISERVER_CACHE to a writable directory"
mkdir -p "$cache_dir" "$out_dir"
out_dir=$(cd "$out_dir" && pwd)
exec 9>"$cache_dir/.lock"
if ! flock -n 9; then
  log "waiting for another build-image.sh run (lock $cache_dir/.lock)"
  flock -w 3600 9 || die "another build-image.sh has held $cache_dir/.lock for an hour" "stop it, or remove the lock file"
fi
tmp=$(mktemp -d "$cache_dir/tmp.XXXXXX")

# --- inputs of the stand-ins: Node.js binary, npm, CA bundle, npm registry -----------------------------------------

begin "finding the Node.js $node_version binary (node-linux-$node_arch)" \
  "run 'npm ci' in $repo, or make the npm registry reachable for 'npm pack node-linux-$node_arch@$node_version'"
node_bin="$repo/node_modules/node/node_modules/node-linux-$node_arch/bin/node"
if [ -x "$node_bin" ] && [ "$("$node_bin" --version 2>/dev/null)" = "v$node_version" ]; then
  log "using $node_bin"
else
  log "node_modules has no Node.js $node_version binary; fetching node-linux-$node_arch@$node_version with npm pack"
  mkdir -p "$tmp/node-pkg"
  (cd "$tmp/node-pkg" && npm pack --silent "node-linux-$node_arch@$node_version" >&2)
  tar -xzf "$tmp/node-pkg/node-linux-$node_arch-"*.tgz -C "$tmp/node-pkg"
  node_bin="$tmp/node-pkg/package/bin/node"
  [ "$("$node_bin" --version)" = "v$node_version" ] || die "the fetched binary is not Node.js $node_version" "$hint"
fi

begin "finding npm 11 for the build stages" \
  "install npm 11 on this machine (npm install -g npm@11), or make the npm registry reachable for 'npm pack npm@11'"
npm_dir="$(npm root -g 2>/dev/null)/npm"
npm_version=$(read_json "$npm_dir/package.json" version 2>/dev/null || true)
if [ "${npm_version%%.*}" = "11" ] && [ -f "$npm_dir/bin/npm-cli.js" ] && [ -d "$npm_dir/node_modules" ]; then
  log "using npm $npm_version from $npm_dir"
else
  log "this machine's npm is ${npm_version:-missing}; fetching npm@11 with npm pack"
  mkdir -p "$tmp/npm-pkg"
  (cd "$tmp/npm-pkg" && npm pack --silent npm@11 >&2)
  tar -xzf "$tmp/npm-pkg"/npm-*.tgz -C "$tmp/npm-pkg"
  npm_dir="$tmp/npm-pkg/package"
  npm_version=$(read_json "$npm_dir/package.json" version)
fi

# npm ci in the build stages goes through the same TLS-intercepting proxy as this machine: the node stand-in carries
# this machine's CA bundle (npm's cafile) and NODE_EXTRA_CA_CERTS points at it; a non-default registry is carried
# as npm_config_registry. Nothing here names a registry host.
begin "reading this machine's npm settings (cafile, registry)" "check 'npm config get cafile' and 'npm config get registry'"
npm_cafile=$(cd "$tmp" && { npm config get cafile 2>/dev/null || true; })
case "$npm_cafile" in "" | null | undefined) npm_cafile=/etc/ssl/certs/ca-certificates.crt ;; esac
[ -s "$npm_cafile" ] || die "no CA bundle at $npm_cafile" "apt-get install -y ca-certificates, or fix npm's cafile setting"
npm_registry=$(cd "$tmp" && { npm config get registry 2>/dev/null || true; })
: >"$tmp/empty-userconfig"
: >"$tmp/empty-globalconfig"
npm_default_registry=$(cd "$tmp" && { env -u npm_config_registry -u NPM_CONFIG_REGISTRY \
  npm_config_userconfig="$tmp/empty-userconfig" npm_config_globalconfig="$tmp/empty-globalconfig" \
  npm config get registry 2>/dev/null || true; })
registry_env=()
if [ -n "$npm_registry" ] && [ "$npm_registry" != "$npm_default_registry" ]; then
  registry_env=(--env "npm_config_registry=$npm_registry")
  log "carrying this machine's npm registry setting into the node stand-in"
fi

# Everything that goes into the stand-ins; a change in any of it builds them again (from the cached debootstrap root).
stamp=$(
  {
    sed -n '/^# >>> stand-in recipe/,/^# <<< stand-in recipe/p' "${BASH_SOURCE[0]}"
    printf 'node %s\nnpm %s\narch %s\nenv %s\n' "$node_version" "$npm_version" "$oci_arch" "${registry_env[*]}"
    sha256sum <"$node_bin"
    sha256sum <"$npm_cafile"
  } | sha256sum | cut -c1-16
)
log "stand-in stamp $stamp (Node.js $node_version, npm $npm_version)"

# >>> stand-in recipe (the text between these markers is part of the cache stamp)

rootfs_tar="$cache_dir/debian-bookworm-minbase-$oci_arch.tar"
node_archive="$cache_dir/node-${node_major}-bookworm-slim.$stamp.oci.tar"
distroless_archive="$cache_dir/distroless-nodejs${node_major}-debian12-nonroot.$stamp.oci.tar"

# A Debian bookworm minbase root with ca-certificates, once; tarred without /dev, /proc, /sys contents and apt state.
debian_root() {
  if [ -s "$rootfs_tar" ]; then
    log "using the cached Debian bookworm root $rootfs_tar"
  else
    need debootstrap debootstrap
    begin "debootstrap --variant=minbase --include=ca-certificates bookworm ($mirror; about 1 minute)" \
      "check that $mirror is reachable (apt-get update works), or set DEBIAN_MIRROR; the log is above"
    local dir="$tmp/debootstrap"
    debootstrap --variant=minbase --include=ca-certificates --arch="$oci_arch" bookworm "$dir" "$mirror" >&2
    begin "packing the Debian root into $rootfs_tar" "check free space under $cache_dir"
    rm -rf "${dir:?}"/var/cache/apt/archives/*.deb "${dir:?}"/var/lib/apt/lists/* "${dir:?}"/var/log/* \
      "${dir:?}"/tmp/* "${dir:?}"/dev/* "${dir:?}"/proc/* "${dir:?}"/sys/* "${dir:?}"/run/*
    tar --numeric-owner --xattrs -C "$dir" -cf "$rootfs_tar.part" .
    mv "$rootfs_tar.part" "$rootfs_tar"
    rm -rf "$dir"
  fi
  if [ ! -d "$tmp/root" ]; then
    mkdir "$tmp/root"
    tar --numeric-owner --xattrs -C "$tmp/root" -xpf "$rootfs_tar"
  fi
}

# Sets $container to a new working container from scratch (not in a subshell: the exit trap removes what is listed).
new_container() {
  container=$(buildah from --pull=never scratch)
  containers+=("$container")
}

# docker.io/library/node:<major>-bookworm-slim: the Debian root + node in /usr/local/bin + npm in /usr/local/lib,
# laid out like the official image.
build_node_standin() {
  debian_root
  begin "building the stand-in $node_image" "see the buildah error above; 'rm -rf $cache_dir' starts over"
  local c mnt
  new_container
  c=$container
  mnt=$(buildah mount "$c")
  tar --numeric-owner --xattrs -C "$mnt" -xpf "$rootfs_tar"
  install -D -m 0755 "$node_bin" "$mnt/usr/local/bin/node"
  mkdir -p "$mnt/usr/local/lib/node_modules"
  cp -a "$npm_dir" "$mnt/usr/local/lib/node_modules/npm"
  chown -R 0:0 "$mnt/usr/local/lib/node_modules/npm"
  ln -s ../lib/node_modules/npm/bin/npm-cli.js "$mnt/usr/local/bin/npm"
  ln -s ../lib/node_modules/npm/bin/npx-cli.js "$mnt/usr/local/bin/npx"
  # This machine's CA bundle (a superset of Debian's when a TLS-intercepting proxy adds its CA): npm ci needs it.
  install -m 0644 "$npm_cafile" "$mnt/etc/ssl/certs/ca-certificates.crt"
  chroot "$mnt" /usr/local/bin/node --version >/dev/null
  buildah umount "$c" >/dev/null
  buildah config --os linux --arch "$oci_arch" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env "NODE_VERSION=$node_version" \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    "${registry_env[@]}" \
    --cmd '["node"]' \
    --label "$stamp_label=$stamp" \
    --label "org.opencontainers.image.description=Local stand-in for $node_image: Debian bookworm minbase + Node.js $node_version + npm $npm_version" \
    "$c"
  buildah commit --quiet --rm "$c" "$node_image" >&2
  containers=()
}

# Copies one file the dynamic loader opens, and the symlinks that lead to it, from the Debian root into $2.
copy_lib() {
  local root=$1 dest=$2 path=$3 cur target
  cur="$(chroot "$root" readlink -f "$(dirname "$path")")/$(basename "$path")"
  for _ in 1 2 3 4 5 6 7 8; do
    if [ -L "$root$cur" ]; then
      mkdir -p "$dest$(dirname "$cur")"
      cp -P "$root$cur" "$dest$cur"
      target=$(readlink "$root$cur")
      case "$target" in /*) ;; *) target="$(dirname "$cur")/$target" ;; esac
      cur="$(chroot "$root" readlink -f "$(dirname "$target")")/$(basename "$target")"
    else
      install -D -m 0755 "$root$cur" "$dest$cur"
      return 0
    fi
  done
  die "too many symlinks for $path in the Debian root" "$hint"
}

# gcr.io/distroless/nodejs<major>-debian12:nonroot: shaped like the published image, from scratch. No shell, no
# package manager; node at /nodejs/bin/node with the shared libraries ldd lists (taken from the Debian root, so they
# are bookworm's), Debian's CA bundle, passwd/group with root and nonroot (65532), /tmp, /home/nonroot.
build_distroless_standin() {
  debian_root
  begin "building the stand-in $distroless_image" "see the error above; 'rm -rf $cache_dir' starts over"
  local root="$tmp/root" dl="$tmp/distroless" c mnt lib
  local -a libs
  rm -rf "$dl"
  mkdir -p "$dl"/{etc/ssl/certs,nodejs/bin,usr/lib,usr/lib64,usr/share,tmp,root,home/nonroot}
  ln -s usr/lib "$dl/lib"
  ln -s usr/lib64 "$dl/lib64"
  chmod 1777 "$dl/tmp"
  chmod 0700 "$dl/root" "$dl/home/nonroot"
  chown 65532:65532 "$dl/home/nonroot"
  install -m 0755 "$node_bin" "$dl/nodejs/bin/node"
  install -m 0755 "$node_bin" "$root/usr/local/bin/node"
  mapfile -t libs < <(chroot "$root" ldd /usr/local/bin/node |
    sed -n 's/^[[:space:]]*[^[:space:]]* => \(\/[^[:space:]]*\) (0x.*/\1/p; s/^[[:space:]]*\(\/[^[:space:]]*\) (0x.*/\1/p')
  [ "${#libs[@]}" -gt 0 ] || die "ldd lists no libraries for node in the Debian root" "$hint"
  for lib in "${libs[@]}"; do
    copy_lib "$root" "$dl" "$lib"
  done
  log "shared libraries for node: ${libs[*]}"
  # The CA certificates Debian ships (distroless carries the same bundle), not this machine's.
  install -m 0644 "$root/etc/ssl/certs/ca-certificates.crt" "$dl/etc/ssl/certs/ca-certificates.crt"
  install -m 0644 "$root/etc/nsswitch.conf" "$dl/etc/nsswitch.conf"
  install -D -m 0644 "$root/usr/lib/os-release" "$dl/usr/lib/os-release"
  ln -s ../usr/lib/os-release "$dl/etc/os-release"
  if [ -d "$root/usr/share/zoneinfo" ]; then cp -a "$root/usr/share/zoneinfo" "$dl/usr/share/zoneinfo"; fi
  cat >"$dl/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
  cat >"$dl/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
  chmod 0644 "$dl/etc/passwd" "$dl/etc/group"
  if [ -e "$dl/bin" ] || [ -e "$dl/usr/bin" ] || [ -e "$dl/sbin" ]; then die "the distroless stand-in has a bin directory" "$hint"; fi
  # The loader finds node's libraries in its default directories; prove it with the stand-in as the root.
  chroot --userspec=65532:65532 "$dl" /nodejs/bin/node -e 'require("node:crypto").createHash("sha256")' ||
    die "node does not start in the distroless stand-in" "$hint"
  new_container
  c=$container
  mnt=$(buildah mount "$c")
  cp -a "$dl/." "$mnt/"
  buildah umount "$c" >/dev/null
  buildah config --os linux --arch "$oci_arch" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    --user 65532 \
    --workingdir /home/nonroot \
    --entrypoint '["/nodejs/bin/node"]' \
    --label "$stamp_label=$stamp" \
    --label "org.opencontainers.image.description=Local stand-in for $distroless_image: distroless-shaped, Debian bookworm libraries + Node.js $node_version" \
    "$c"
  buildah commit --quiet --rm "$c" "$distroless_image" >&2
  containers=()
}

# <<< stand-in recipe

# An image is usable when buildah's store has it under its name with this stamp; otherwise it is loaded from its cached
# archive, or built and archived.
image_stamp() { buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$stamp_label\"}}" "$1" 2>/dev/null || true; }
ensure_standin() {
  local name=$1 archive=$2 build=$3
  if [ "$(image_stamp "$name")" = "$stamp" ]; then
    log "stand-in $name is in buildah's store (stamp $stamp)"
    return 0
  fi
  if [ -s "$archive" ]; then
    begin "loading the stand-in $name from $archive" "remove $archive to build it again"
    local id
    id=$(buildah pull --quiet "oci-archive:$archive")
    buildah tag "$id" "$name"
  else
    "$build"
    begin "archiving the stand-in $name to $archive" "check free space under $cache_dir"
    rm -f "$archive.part"
    buildah push --quiet "$name" "oci-archive:$archive.part:$name" >&2
    mv "$archive.part" "$archive"
  fi
  [ "$(image_stamp "$name")" = "$stamp" ] || die "the stand-in $name does not carry stamp $stamp" "rm -rf $cache_dir and run again"
}

ensure_standin "$node_image" "$node_archive" build_node_standin
ensure_standin "$distroless_image" "$distroless_archive" build_distroless_standin

# Stand-ins of other stamps are never used again.
for old in "$cache_dir"/*.oci.tar; do
  case "$old" in *".$stamp.oci.tar" | "$cache_dir/*.oci.tar") ;; *)
    log "removing the outdated stand-in archive $old"
    rm -f "$old"
    ;;
  esac
done

# --- the application image -----------------------------------------------------------------------------------------

# The previous build under the same name would be left dangling in buildah's store.
previous=$(buildah inspect --type image --format '{{.FromImageID}}' "$image_ref" 2>/dev/null || true)

begin "buildah bud --pull=never $image_ref from $repo/Dockerfile (isolation $isolation, network $network)" \
  "read buildah's output above: a failed 'npm ci' usually means the registry or its CA is not reachable from a RUN step (try BUILD_IMAGE_NETWORK=host, BUILD_IMAGE_ISOLATION=chroot); a failed 'npm run build' is a TypeScript error in src/"
buildah bud --pull=never --layers=false \
  --isolation "$isolation" --network "$network" \
  --build-arg "VERSION=$app_version" --build-arg "REVISION=$revision" \
  -f "$repo/Dockerfile" -t "$image_ref" "$repo" >&2

if [ -n "$previous" ]; then
  current=$(buildah inspect --type image --format '{{.FromImageID}}' "$image_ref")
  [ "$previous" = "$current" ] || buildah rmi "$previous" >/dev/null 2>&1 || true
fi

begin "writing $out_dir/$archive_name" "check free space in $out_dir"
rm -f "$out_dir/$archive_name" "$out_dir/$archive_name.part"
buildah push --quiet "$image_ref" "oci-archive:$out_dir/$archive_name.part:$image_ref" >&2
mv "$out_dir/$archive_name.part" "$out_dir/$archive_name"
log "wrote $out_dir/$archive_name ($(du -h "$out_dir/$archive_name" | cut -f1)); import it with: ctr -n k8s.io images import $out_dir/$archive_name"

step=""
echo "IMAGE=$image_ref"
