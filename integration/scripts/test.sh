#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine as root: installs what it needs, checks
# formatting and lints, then runs unit tests and the end-to-end tests against real lab nodes.
set -euo pipefail
cd "$(dirname "$0")/../.."
. integration/scripts/lib.sh
# The lab's nodes run the OpenSVC agent from its tarball (or the one TANDEM_LAB_OPENSVC_TARBALL names).
[ -n "${TANDEM_LAB_OPENSVC_TARBALL:-}" ] || need_shared "$shared_opensvc_tarball" "the OpenSVC agent's tarball"
bash integration/scripts/setup.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo build (tandem, tandem-lab)"
cargo build --workspace --bins --quiet
echo "== cargo test"
# Every test that brings up a lab cleans it up; this catches one that did not.
status=0
# Lab interfaces that exist already (another lab someone left up) are not this run's doing.
before=$(ip -o link show | grep -c ' tl[b0-9]' || true)
# The hardening suites (bad inputs, faults) leave one line each here: their counts.
rm -rf target/hardening
cargo test --workspace 2>&1 | tee target/test.log || status=$?
if [ -d target/hardening ]; then
    echo "== hardening"
    cat target/hardening/*.txt
    faults=$(cat target/hardening/faults-*.txt 2>/dev/null | grep -c '^fault survived' || true)
    echo "faults survived: $faults"
fi
passed=$(grep -Eo 'test result: [a-zA-Z]+\. [0-9]+ passed; [0-9]+ failed' target/test.log | awk '{p+=$4; f+=$6} END {print p+0, f+0}')
echo "${passed% *} passed, ${passed#* } failed"
after=$(ip -o link show | grep -c ' tl[b0-9]' || true)
leftover=$((after - before))
if [ "$leftover" -gt 0 ]; then
    echo "test: $leftover lab interfaces were left behind by the tests:" >&2
    ip -o link show | grep ' tl[b0-9]' >&2
    status=1
fi
exit $status
