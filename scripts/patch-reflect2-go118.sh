#!/usr/bin/env bash
# Patches the modern-go/reflect2 1.0.1 vendored in a Kubernetes 1.20 source tree as reflect2 1.0.2 did for Go 1.18+:
# reflect.mapiterinit now fills an iterator the caller allocates instead of returning one. Built with Debian's Go
# 1.19 and the old reflect2, kube-apiserver panics on the first custom resource it stores (and on some map
# iterations in request handling), so no CRD-backed object (PolicyReports, for the audit's tests) can be created.
# Usage: scripts/patch-reflect2-go118.sh KUBERNETES_SOURCE_TREE   (idempotent; files are replaced, never edited in
# place, so a hard-linked copy of a tree leaves the original untouched). Then build as scripts/build-kube-apiserver.sh.
set -euo pipefail
dir="${1:?usage: $0 KUBERNETES_SOURCE_TREE}/vendor/github.com/modern-go/reflect2"
[ -f "$dir/unsafe_link.go" ] || { echo "no vendored reflect2 at $dir" >&2; exit 1; }
[ -f "$dir/go_above_118.go" ] && { echo "reflect2 already patched for Go 1.18+: $dir"; exit 0; }

replace() { # replace FILE with standard input, breaking any hard link
  local tmp
  tmp=$(mktemp "$dir/.patch.XXXXXX")
  cat > "$tmp"
  rm -f "$1"
  mv "$tmp" "$1"
  chmod 644 "$1"
}

# unsafe_link.go: drop the old mapiterinit declaration; hiter gets the runtime's full layout (Go 1.18 to 1.21),
# since the runtime now writes the whole iterator into memory we allocate.
python3 - "$dir/unsafe_link.go" <<'EOF' | replace "$dir/unsafe_link.go"
import sys
text = open(sys.argv[1]).read()
old_decl = """// m escapes into the return value, but the caller of mapiterinit
// doesn't let the return value escape.
//go:noescape
//go:linkname mapiterinit reflect.mapiterinit
func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer) *hiter

"""
old_hiter = """type hiter struct {
	key   unsafe.Pointer // Must be in first position.  Write nil to indicate iteration end (see cmd/internal/gc/range.go).
	value unsafe.Pointer // Must be in second position (see cmd/internal/gc/range.go).
	// rest fields are ignored
}"""
new_hiter = """type hiter struct {
	key         unsafe.Pointer
	value       unsafe.Pointer
	t           unsafe.Pointer
	h           unsafe.Pointer
	buckets     unsafe.Pointer
	bptr        unsafe.Pointer
	overflow    *[]unsafe.Pointer
	oldoverflow *[]unsafe.Pointer
	startBucket uintptr
	offset      uint8
	wrapped     bool
	B           uint8
	i           uint8
	bucket      uintptr
	checkBucket uintptr
}"""
for old in (old_decl, old_hiter):
    if text.count(old) != 1:
        sys.exit("unsafe_link.go is not the reflect2 1.0.1 this patch expects")
sys.stdout.write(text.replace(old_decl, "").replace(old_hiter, new_hiter))
EOF

# unsafe_map.go: UnsafeIterate moves to the per-Go-version files below.
python3 - "$dir/unsafe_map.go" <<'EOF' | replace "$dir/unsafe_map.go"
import sys
text = open(sys.argv[1]).read()
old = """func (type2 *UnsafeMapType) UnsafeIterate(obj unsafe.Pointer) MapIterator {
	return &UnsafeMapIterator{
		hiter:      mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj)),
		pKeyRType:  type2.pKeyRType,
		pElemRType: type2.pElemRType,
	}
}

"""
if text.count(old) != 1:
    sys.exit("unsafe_map.go is not the reflect2 1.0.1 this patch expects")
sys.stdout.write(text.replace(old, ""))
EOF

replace "$dir/go_above_118.go" <<'EOF'
//go:build go1.18
// +build go1.18

package reflect2

import (
	"unsafe"
)

// m escapes into the return value, but the caller of mapiterinit
// doesn't let the return value escape.
//go:noescape
//go:linkname mapiterinit reflect.mapiterinit
func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer, it *hiter)

func (type2 *UnsafeMapType) UnsafeIterate(obj unsafe.Pointer) MapIterator {
	var it hiter
	mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj), &it)
	return &UnsafeMapIterator{
		hiter:      &it,
		pKeyRType:  type2.pKeyRType,
		pElemRType: type2.pElemRType,
	}
}
EOF

replace "$dir/go_below_118.go" <<'EOF'
//go:build !go1.18
// +build !go1.18

package reflect2

import (
	"unsafe"
)

// m escapes into the return value, but the caller of mapiterinit
// doesn't let the return value escape.
//go:noescape
//go:linkname mapiterinit reflect.mapiterinit
func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer) (val *hiter)

func (type2 *UnsafeMapType) UnsafeIterate(obj unsafe.Pointer) MapIterator {
	return &UnsafeMapIterator{
		hiter:      mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj)),
		pKeyRType:  type2.pKeyRType,
		pElemRType: type2.pElemRType,
	}
}
EOF
echo "patched reflect2 for Go 1.18+: $dir"
