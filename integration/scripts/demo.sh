#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, build tandem, start a fresh two-node
# lab (real sshd in each node), then reach it with tandem. The lab stays up for you to explore;
# `target/release/tandem-lab down --dir /tmp/tandem-demo` removes it.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash integration/scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
echo "== building tandem (release)"
cargo build --release --workspace --bins --quiet
bin=target/release
dir=${TANDEM_DEMO_DIR:-/tmp/tandem-demo}

"$bin/tandem-lab" down --dir "$dir" >/dev/null 2>&1 || true
echo "== tandem-lab up --dir $dir --nodes 2"
"$bin/tandem-lab" up --dir "$dir" --nodes 2
inv="$dir/inventory.yml"

echo
echo "== tandem ping -i $inv"
"$bin/tandem" ping -i "$inv"
echo
echo "== tandem run -i $inv -- 'uname -sr; ip -4 -br addr show eth0'"
"$bin/tandem" run -i "$inv" -- 'uname -sr; ip -4 -br addr show eth0'
echo
echo "The lab is still up: try '$bin/tandem run -i $inv -- hostname'."
echo "Take it down with: $bin/tandem-lab down --dir $dir"
