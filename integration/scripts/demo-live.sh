#!/usr/bin/env bash
# The live view at many hosts: a fresh lab of 20 nodes (--nodes N for another count), then a
# deploy of a short playbook (integration/scripts/demo-live.yml) whose steps take a moment, a
# few nodes much longer, so the view has time to show what it does: the total of steps from the
# start, a line per host at work with its spinner, time and last result, "+N more" when they
# do not fit the terminal (make it shorter to see it), the slow hosts moved to the top, colours.
# A second deploy follows: converged, nothing changes. The lab is taken down at the end unless
# --keep is given.
#
# Not run by CI: a 20-node lab takes a minute or two to start on a small machine. Builds tandem
# in release mode unless TANDEM_BIN_DIR names a directory holding tandem and tandem-lab already.
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() {
    echo "usage: $0 [--nodes N] [--keep]   (N from 1 to 200, default 20)"
}
nodes=20
keep=
while [ $# -gt 0 ]; do
    case $1 in
        --nodes) nodes=${2:-}; shift 2 || { usage >&2; exit 2; } ;;
        --nodes=*) nodes=${1#--nodes=}; shift ;;
        --keep) keep=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) echo "$(basename "$0"): unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done
case $nodes in
    '' | *[!0-9]*) echo "$(basename "$0"): --nodes takes a number, not '$nodes'" >&2; exit 2 ;;
esac
if [ "$nodes" -lt 1 ] || [ "$nodes" -gt 200 ]; then
    echo "$(basename "$0"): --nodes $nodes: from 1 to 200" >&2
    exit 2
fi

if [ -n "${TANDEM_BIN_DIR:-}" ]; then
    bin=$TANDEM_BIN_DIR
else
    export PATH="$HOME/.cargo/bin:$PATH"
    echo "== building tandem (release)"
    cargo build --release --workspace --bins --quiet
    bin=target/release
fi
dir=${TANDEM_DEMO_DIR:-/tmp/tandem-demo-live}

"$bin/tandem-lab" down --dir "$dir" >/dev/null 2>&1 || true
if [ -z "$keep" ]; then
    trap '"$bin/tandem-lab" down --dir "$dir" >/dev/null 2>&1 || true' EXIT
fi
echo "== tandem-lab up --dir $dir --nodes $nodes --no-opensvc"
"$bin/tandem-lab" up --dir "$dir" --nodes "$nodes" --no-opensvc
inv="$dir/inventory.yml"

echo
echo "== tandem deploy -i $inv integration/scripts/demo-live.yml   (the live view)"
"$bin/tandem" deploy -i "$inv" integration/scripts/demo-live.yml
echo
echo "== tandem deploy again: converged, nothing to change"
"$bin/tandem" deploy -i "$inv" integration/scripts/demo-live.yml
if [ -n "$keep" ]; then
    echo
    echo "The lab is still up; take it down with: $bin/tandem-lab down --dir $dir"
fi
