#!/usr/bin/env bash
# The main job on a fresh machine: install what is needed, build tandem, start a fresh two-node
# lab (real sshd in each node), deploy the cookbook playbook to it with tandem, exchange the
# keys, check the service config, then run a game day through the OpenSVC agent (switch to node2
# and back, measured, its phases from the agent's log). The lab stays up for you to explore;
# `target/release/tandem-lab down --dir /tmp/tandem-demo` removes it.
#
# Stages, each timed (the timings are printed at the end, whatever happens): setup, build,
# lab up, deploy, game day. Everything after the build has a budget (TANDEM_DEMO_BUDGET,
# seconds, default 180): past it the demo fails, even if every command succeeded, so that CI
# catches a step that got slow (a node waiting on the network) before a user does.
set -euo pipefail
cd "$(dirname "$0")/../.."
. integration/scripts/lib.sh
# The lab's nodes run the OpenSVC agent from its tarball (or the one TANDEM_LAB_OPENSVC_TARBALL names).
[ -n "${TANDEM_LAB_OPENSVC_TARBALL:-}" ] || need_shared "$shared_opensvc_tarball" "the OpenSVC agent's tarball"
budget=${TANDEM_DEMO_BUDGET:-180}
trap stages_report EXIT

stage setup
bash integration/scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

stage build
echo "== building tandem (release)"
cargo build --release --workspace --bins --quiet
bin=target/release
dir=${TANDEM_DEMO_DIR:-/tmp/tandem-demo}

stage "lab up"
"$bin/tandem-lab" down --dir "$dir" >/dev/null 2>&1 || true
echo "== tandem-lab up --dir $dir --nodes 2"
"$bin/tandem-lab" up --dir "$dir" --nodes 2
inv="$dir/inventory.yml"

stage deploy
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
echo "== tandem run -i $inv --limit node1 -- om node wait ...   (the OpenSVC agent starts the service on node1)"
"$bin/tandem" run -i "$inv" --limit node1 -- \
    "om node wait --filter \"monitor.nodes.'node1'.services.status.'web'.avail=up\" --duration 90 && om mon"
echo
echo "== tandem run -i $inv -- lxc-ls -f   (the container runs on the primary node)"
"$bin/tandem" run -i "$inv" -- 'lxc-ls -f'
echo
echo "== tandem vip status -i $inv   (where OVH routes the VIP: the lab's OVH API simulator)"
"$bin/tandem" vip status -i "$inv"

stage "game day"
# Through the agent (`om web switch`, waited for until the agent reports it up on the other
# node); the summary ends with the agent's phases, from its log: where the downtime went. The
# agent's switch takes about 15 s here: a 40 s budget (the lab's 5 s is for --direct).
echo "== tandem failover-test -i $inv --cluster pair1 --flip-back --rto 40 --yes   (the game day, through OpenSVC)"
status=0
"$bin/tandem" failover-test -i "$inv" --cluster pair1 --flip-back --rto 40 --yes \
    --report "$dir/game-day.html" || status=$?
echo
echo "The game day's report with its timeline drawn: $dir/game-day.html"
echo "The lab is still up: try '$bin/tandem deploy -i $inv playbooks/ovh-lxc-cluster.yml --check --diff'."
echo "Take it down with: $bin/tandem-lab down --dir $dir"

stage_end
after_build=$(stages_ms_after build)
if [ "$status" -eq 0 ] && [ "$after_build" -gt $((budget * 1000)) ]; then
    echo "demo: lab up, deploy and game day took $((after_build / 1000)) s, over the budget of $budget s (TANDEM_DEMO_BUDGET)" >&2
    status=1
fi
exit $status
