#!/usr/bin/env bash
# CI's first step: makes this machine as fresh as a new user's for what tandem's README commands
# install: purges the packages of the `cookbook` and `agent` groups of packages.list (what a
# fresh Debian machine lacks), so the README's commands must install them again (setup.sh) or
# fail. Never the `lab`, `base`, `test` or `tools` groups, never the Rust toolchain.
#
# First a simulation (`apt-get -s purge`): when the purge would take any other package with it
# that matters (one of the kept groups, an Essential or required/important package, the
# toolchain), nothing is purged and the script fails, naming them.
#
# Never run this on a machine whose other users need those packages (a shared lab host).
# `--simulate` does the checks and says what it would purge, and purges nothing.
# Their dependencies stay installed (no autoremove): a fresh machine may lack them too, but apt
# brings dependencies by itself; what this proves is that setup.sh asks for the packages.
set -euo pipefail
simulate=
if [ "${1:-}" = --simulate ]; then
    simulate=1
elif [ $# -gt 0 ]; then
    echo "usage: purge-fresh.sh [--simulate]" >&2
    exit 2
fi
cd "$(dirname "$0")/../.."
if [ "$(id -u)" -ne 0 ]; then
    echo "purge-fresh: run as root" >&2
    exit 2
fi
list=integration/scripts/packages.list
mapfile -t groups_purged < <(printf '%s\n' cookbook agent)
mapfile -t wanted < <(sed -e 's/#.*//' "$list" | awk 'NF && ($2 == "cookbook" || $2 == "agent") { print $1 }')
mapfile -t kept < <(sed -e 's/#.*//' "$list" | awk 'NF && $2 != "cookbook" && $2 != "agent" { print $1 }')
mapfile -t installed < <(
    dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${wanted[@]}" 2>/dev/null | awk '$2 == "ii" { print $1 }'
)
if [ ${#installed[@]} -eq 0 ]; then
    echo "purge-fresh: none of the ${groups_purged[*]} packages is installed: already fresh"
    exit 0
fi

# What apt would remove: the packages asked for, and anything that depends on them.
if ! simulation=$(LC_ALL=C apt-get -s purge "${installed[@]}" 2>&1); then
    echo "purge-fresh: apt-get refuses even to simulate purging ${installed[*]} (an Essential package?): nothing purged; $(tail -n 1 <<<"$simulation")" >&2
    exit 1
fi
mapfile -t removed < <(awk '$1 == "Purg" || $1 == "Remv" { print $2 }' <<<"$simulation")
bad=()
for package in "${removed[@]}"; do
    package=${package%%:*}
    if printf '%s\n' "${wanted[@]}" | grep -qx -- "$package"; then
        continue
    fi
    why=
    if printf '%s\n' "${kept[@]}" | grep -qx -- "$package"; then
        why="kept by packages.list"
    elif [[ $package == rust* || $package == cargo* || $package == gcc* || $package == libc6* ]]; then
        why="the toolchain"
    else
        fields=$(dpkg-query -W -f='${Essential} ${Priority}' "$package" 2>/dev/null || true)
        case "$fields" in
        yes\ *) why="Essential" ;;
        *\ required | *\ important) why="priority ${fields#* }" ;;
        esac
    fi
    if [ -n "$why" ]; then
        bad+=("$package ($why)")
    fi
done
if [ ${#bad[@]} -gt 0 ]; then
    echo "purge-fresh: purging ${installed[*]} would also remove ${bad[*]}: nothing purged" >&2
    exit 1
fi
if [ -n "$simulate" ]; then
    echo "purge-fresh: would purge ${removed[*]} (--simulate: nothing purged)"
    exit 0
fi
echo "purge-fresh: purging ${removed[*]}"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq "${installed[@]}" >/dev/null
echo "purge-fresh: done; integration/scripts/setup.sh installs them again"
