#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, build tandem, start a fresh two-node
# lab (real sshd in each node), deploy the cookbook playbook to it with tandem, exchange the
# keys, check the service config, then run a game day (switch to node2 and back, measured). The lab stays up for you to explore;
# `target/release/tandem-lab down --dir /tmp/tandem-demo` removes it.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash integration/scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"
echo "== building tandem (release)"
cargo build --release --workspace --bins --quiet
bin=target/release
dir=${TANDEM_DEMO_DIR:-/tmp/tandem-demo}
# The lab without the OpenSVC agent for now: the game day below switches with --direct (tandem
# does the switch itself), which would race the agent's own orchestrator. Once the game day
# switches through the agent, drop --no-opensvc: the lab then has the agent in every node and
# the cookbook deploys the OpenSVC cluster and lets the agent start the service.
lab_flags=(--no-opensvc)

"$bin/tandem-lab" down --dir "$dir" >/dev/null 2>&1 || true
echo "== tandem-lab up --dir $dir --nodes 2 ${lab_flags[*]}"
"$bin/tandem-lab" up --dir "$dir" --nodes 2 "${lab_flags[@]}"
inv="$dir/inventory.yml"

echo
echo "== tandem ping -i $inv"
"$bin/tandem" ping -i "$inv"
echo
echo "== tandem deploy -i $inv playbooks/ovh-lxc-cluster.yml   (the cookbook, first run)"
"$bin/tandem" deploy -i "$inv" playbooks/ovh-lxc-cluster.yml
echo
echo "== tandem deploy again: converged, nothing to change"
"$bin/tandem" deploy -i "$inv" playbooks/ovh-lxc-cluster.yml
echo
echo "== tandem keys -i $inv   (root on each node trusts its peer and logs into its containers)"
"$bin/tandem" keys -i "$inv"
echo
echo "== tandem config diff -i $inv   (the OpenSVC service config: the same bytes on both nodes)"
"$bin/tandem" config diff -i "$inv"
echo
echo "== tandem run -i $inv -- lxc-ls -f   (the container runs on the primary node)"
"$bin/tandem" run -i "$inv" -- 'lxc-ls -f'
echo
echo "== tandem vip status -i $inv   (where OVH routes the VIP: the lab's OVH API simulator)"
"$bin/tandem" vip status -i "$inv"
echo
echo "== tandem failover-test -i $inv --cluster pair1 --direct --flip-back --yes   (the game day)"
status=0
"$bin/tandem" failover-test -i "$inv" --cluster pair1 --direct --flip-back --yes \
    --report "$dir/game-day.html" || status=$?
echo
echo "The game day's report with its timeline drawn: $dir/game-day.html"
echo "The lab is still up: try '$bin/tandem deploy -i $inv playbooks/ovh-lxc-cluster.yml --check --diff'."
echo "Take it down with: $bin/tandem-lab down --dir $dir"
exit $status
