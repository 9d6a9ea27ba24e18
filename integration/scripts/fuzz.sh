#!/usr/bin/env bash
# Fuzzes tandem's parsers (issue 7, item 4): every cargo-fuzz target in turn, each for a bounded
# time, then a table of what each did. Not part of CI: it needs the nightly toolchain and runs
# as long as asked.
#
#   bash integration/scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60)
#
# New inputs go to a scratch corpus, seeded from fuzz/corpus/TARGET, so the committed corpus
# only changes on purpose (`cargo +nightly fuzz cmin TARGET` after copying finds in). A crash,
# timeout or out-of-memory input is saved under fuzz/artifacts/TARGET/ with the command that
# reproduces it; turn it into a unit test next to the parser before fixing.
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-60}
case $seconds in
'' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2 ;;
esac
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz: the nightly toolchain is needed: rustup toolchain install nightly" >&2
    exit 2
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# tandem is safe Rust: the sanitizer would slow every run down for nothing it could find;
# panics (overflow checks on: -a), timeouts and memory blow-ups are what is looked for.
build_flags=(--sanitizer none --debug-assertions)
echo "== building the fuzz targets"
cargo +nightly fuzz build "${build_flags[@]}"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/tandem-fuzz.XXXXXXXX")
trap 'rm -rf "$scratch"' EXIT
rows=()
for target in $(cargo +nightly fuzz list); do
    corpus="$scratch/corpus-$target"
    mkdir -p "$corpus" "fuzz/artifacts/$target"
    before=$(find "fuzz/artifacts/$target" -type f | wc -l)
    dict=()
    [ -f "fuzz/dicts/$target.dict" ] && dict=("-dict=fuzz/dicts/$target.dict")
    echo "== $target: ${seconds}s"
    # One process on one core (what -jobs=1 asks, without moving the log to fuzz-0.log);
    # stdin closed so an input naming /dev/stdin cannot wait for a terminal; the targets'
    # scratch files go under $scratch.
    log="$scratch/$target.log"
    status=0
    TMPDIR=$scratch cargo +nightly fuzz run "${build_flags[@]}" "$target" "$corpus" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" \
        </dev/null >"$log" 2>&1 || status=$?
    runs=$(grep -Eo '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
    [ -n "$runs" ] || runs=$(grep -Eo '^#[0-9]+' "$log" | tail -1 | tr -d '#' || true)
    corp=$(grep -Eo 'corp: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
    after=$(find "fuzz/artifacts/$target" -type f | wc -l)
    crashes=$((after - before))
    if [ "$status" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        echo "fuzz: $target stopped with status $status and no artifact; last lines:" >&2
        tail -20 "$log" >&2
        crashes="?"
    fi
    if [ "$crashes" != 0 ]; then
        grep -E 'panicked|ERROR: libFuzzer|Test unit written' "$log" | head -5 || true
    fi
    rows+=("$target ${runs:-0} ${corp:-0} $crashes")
done

echo
printf '%-14s %12s %12s %8s\n' target runs corpus crashes
for row in "${rows[@]}"; do
    # shellcheck disable=SC2086
    printf '%-14s %12s %12s %8s\n' $row
done
