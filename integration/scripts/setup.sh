#!/usr/bin/env bash
# Installs what tandem's lab, tests and demo need on a fresh Debian machine (run as root).
# Idempotent: packages already present are not touched, so a second run costs a second.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "setup: run as root (the lab creates network namespaces and mounts)" >&2
    exit 2
fi

# Debian packages, by the command they provide.
need=()
have() { command -v "$1" >/dev/null 2>&1; }
have sshd || [ -x /usr/sbin/sshd ] || need+=(openssh-server)
have ssh || need+=(openssh-client)
have ssh-keyscan || need+=(openssh-client)
have ip || [ -x /usr/sbin/ip ] || need+=(iproute2)
have unshare || need+=(util-linux)
have nsenter || need+=(util-linux)
have lxc-create || need+=(lxc)
have busybox || need+=(busybox-static)
have cc || need+=(build-essential)
have curl || need+=(curl)
have sudo || need+=(sudo)
have python3 || need+=(python3)
# The HTML game-day report's end-to-end test renders it in headless Chromium.
have chromium || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
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
