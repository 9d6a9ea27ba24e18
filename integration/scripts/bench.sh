#!/usr/bin/env bash
# Benchmarks on lab nodes; each prints a Markdown table.
#   integration/scripts/bench.sh [--nodes 2,50] [--runs 7]
#       `tandem run -- true` on 2 and 50 lab nodes next to plain OpenSSH.
#   integration/scripts/bench.sh --deploy [--scenarios 2@30,50@0] [--tools tandem,pyinfra,ansible] [--runs 3]
#       the 18-step workload of integration/bench/deploy/ with tandem, pyinfra and Ansible (first
#       run on fresh nodes, then converged), 2 nodes behind a 30 ms delay proxy and 50 without,
#       next to the floor (one plain ssh per node running all the checks). Ansible and pyinfra
#       come from PyPI into a venv cached in target/bench-venv. Results: target/bench-deploy/.
#   integration/scripts/bench.sh --failover [--runs 5] [--agent]
#       game days on a lab pair (2 s simulated OVH task): downtime, task, reaction per flip;
#       with --agent, then through the OpenSVC agent on a pair with the agent, split into the
#       agent's phases, once with the config tandem renders and once with the ip resource's
#       address check skipped (`tags = nonrouted`, set by hand on the lab's nodes).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash integration/scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --workspace --bins --quiet

if [ "${1:-}" = "--failover" ]; then
    shift
    exec target/release/tandem-bench-failover "$@"
fi
if [ "${1:-}" != "--deploy" ]; then
    exec target/release/tandem-bench "$@"
fi
shift

# The pinned tools, installed once; a rerun finds the marker and skips pip.
venv=target/bench-venv
want="ansible-core==2.19.14 pyinfra==3.10.0"
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$want" ]; then
    if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
        echo "bench: installing python3-venv"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    fi
    echo "bench: creating $venv with $want"
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check $want
    echo "$want" >"$venv/.installed"
fi
exec target/release/tandem-bench-deploy --venv "$venv" "$@"
