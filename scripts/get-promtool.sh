#!/usr/bin/env bash
# Prints the path of promtool (Prometheus's rule checker and unit tester), installing it first when it is missing.
#
# promtool ships in Debian's `prometheus` package, installed here with apt-get (as root) without its recommends. The
# package would also start a Prometheus server where an init system runs one: this script stops any server the
# install started, since only the promtool binary is wanted.
#
#   PROMTOOL=/path/to/promtool scripts/get-promtool.sh   prints $PROMTOOL and does nothing else
set -euo pipefail

if [ -n "${PROMTOOL:-}" ]; then
  [ -x "$PROMTOOL" ] || { echo "get-promtool: PROMTOOL=$PROMTOOL is not an executable file" >&2; exit 1; }
  echo "$PROMTOOL"
  exit 0
fi

if found=$(command -v promtool); then echo "$found"; exit 0; fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "get-promtool: promtool is not installed and this is not root with apt-get: install Debian's prometheus package (apt-get install --no-install-recommends prometheus), or set PROMTOOL=/path/to/promtool" >&2
  exit 1
fi

running_before=$(pgrep -x prometheus || true)
echo "get-promtool: installing Debian's prometheus package (for promtool) with apt-get" >&2
install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2; }
install || { apt-get update -qq >&2 && install; } || { echo "get-promtool: apt-get install prometheus failed (see above)" >&2; exit 1; }

# A server the package's post-install started (none was running before): only the binary was wanted.
for pid in $(pgrep -x prometheus || true); do
  case " $running_before " in *" $pid "*) ;; *) kill "$pid" 2>/dev/null || true ;; esac
done

found=$(command -v promtool) || { echo "get-promtool: the prometheus package is installed but promtool is not on the PATH" >&2; exit 1; }
"$found" --version >/dev/null 2>&1 || { echo "get-promtool: $found does not run" >&2; exit 1; }
echo "$found"
