#!/usr/bin/env bash
# Benchmark: `tandem run -- true` on 2 and 50 lab nodes next to plain OpenSSH; prints a table.
# Usage: integration/scripts/bench.sh [--nodes 2,50] [--runs 7]
set -euo pipefail
cd "$(dirname "$0")/../.."
bash integration/scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --workspace --bins --quiet
exec target/release/tandem-bench "$@"
