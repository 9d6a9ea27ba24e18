#!/usr/bin/env bash
# Installs what tandem's lab, tests and demo need on a fresh Debian machine (run as root).
# Idempotent: packages already present are not touched, so a second run costs a second.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: run as root (the lab creates network namespaces and mounts)" >&2
    exit 2
fi

# Debian packages: every one that integration/scripts/packages.list names and that is not
# installed yet, in one apt-get call (one dpkg-query answers for all of them).
here=$(cd "$(dirname "$0")" && pwd)
list="$here/packages.list"
if [ ! -r "$list" ]; then
    echo "setup: $list is missing: run this script from a complete clone of tandem" >&2
    exit 2
fi
mapfile -t wanted < <(sed -e 's/#.*//' "$list" | awk 'NF { print $1 }')
mapfile -t need < <(
    dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${wanted[@]}" 2>/dev/null |
        awk '$2 == "ii" { print $1 }' | sort -u | comm -13 - <(printf '%s\n' "${wanted[@]}" | sort -u)
)
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
have() { command -v "$1" >/dev/null 2>&1; }
# The Debian package starts an sshd on the host; the lab runs its own inside each node and
# does not need (or touch) the host's.

# Rust: tandem needs 1.89 or newer (russh, serde-saphyr). Debian 12's own cargo is older.
if ! have cargo && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! have cargo; then
    echo "setup: installing Rust with rustup"
    export DEBIAN_FRONTEND=noninteractive
    if apt-cache show rustup >/dev/null 2>&1; then
        apt-get install -y -qq rustup >/dev/null
        rustup default stable
    else
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
fi
rustc_minor=$(rustc --version | sed -E 's/^rustc 1\.([0-9]+).*/\1/')
if [ "$rustc_minor" -lt 89 ]; then
    echo "setup: rustc $(rustc --version) is too old; tandem needs 1.89 or newer (rustup update stable)" >&2
    exit 2
fi
for component in rustfmt clippy; do
    if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
        rustup component add "$component" >/dev/null 2>&1 || true
    fi
done
