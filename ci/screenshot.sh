#!/usr/bin/env bash
# A picture of a run's report.html, as a reviewer sees it:
#
#   ci/screenshot.sh RUN_DIR out.png [WIDTH,HEIGHT]
#
# Headless Chromium (Debian package `chromium`), offline: no network, a
# throwaway profile. The page itself fetches nothing (its CSP forbids it).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 RUN_DIR OUT.png [WIDTH,HEIGHT]" >&2
    exit 2
fi
run_dir=$1
out=$2
size=${3:-1280,3600}
page="$(cd "$run_dir" && pwd)/report.html"
[ -f "$page" ] || { echo "error: no report.html in $run_dir" >&2; exit 2; }
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "error: chromium not found (apt-get install chromium)" >&2; exit 2; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
out_abs="$(cd "$(dirname "$out")" && pwd)/$(basename "$out")"
"$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --window-size="$size" \
    --screenshot="$out_abs" "file://$page" 2>/dev/null
echo "screenshot: $out_abs"
