#!/usr/bin/env bash
# Runs depot-formats' fuzz targets one after another, SECONDS each (default
# 600), on one core, and prints per target: executions, exec/s, seconds,
# corpus size (corp: the units libFuzzer keeps; files: in fuzz/corpus/T),
# crashes/timeouts/OOMs (with the files libFuzzer saved them in).
#
#   fuzz/run.sh [SECONDS] [TARGET...]     (default: every target below)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`); on a stable
# toolchain RUSTC_BOOTSTRAP=1 lets it use the nightly flags it needs.
# The seed corpus is (re)written first by the `seeds` binary: packages built
# with depot-testkit and testdata, into fuzz/corpus/<target>/seed-*.
#
# libFuzzer runs in fork mode with one worker (-fork=1): one core, and a
# crash, timeout (-timeout=10) or OOM (-rss_limit_mb=1024, also the limit
# for a single allocation) is saved under fuzz/artifacts/<target>/ and the
# run goes on, so one run finds every bug it can in its time. The full
# libFuzzer output is fuzz/artifacts/<target>/run.log.
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-600}
[ $# -gt 0 ] && shift
all=(deb_inspect rpm_inspect pacman_inspect apk_inspect freebsd_inspect deb822 rpm_header)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

export RUSTC_BOOTSTRAP=1
# -a: debug assertions and overflow checks, so arithmetic on sizes read
# from the input that would wrap in release is a crash here.
cargo fuzz build -a
fuzz/target/x86_64-unknown-linux-gnu/release/seeds

printf '\n%-16s %12s %8s %7s %7s %7s %s\n' target execs exec/s secs corp files 'oom/timeout/crash'
summary=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    log="fuzz/artifacts/$t/run.log"
    start=$(date +%s)
    cargo fuzz run -a "$t" -- \
        -max_total_time="$secs" -fork=1 \
        -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 \
        -timeout=10 -rss_limit_mb=1024 -print_final_stats=1 \
        >"$log" 2>&1 || true
    took=$(( $(date +%s) - start ))
    # Fork mode's progress line: "#EXECS: cov: .. ft: .. corp: N exec/s: N
    # oom/timeout/crash: A/B/C time: Ns job: N dft_time: N".
    last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
    execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
    rate=$(sed -E 's/.*exec\/s: ([0-9]+).*/\1/' <<<"$last")
    corp=$(sed -E 's/.* corp: ([0-9]+) .*/\1/' <<<"$last")
    bad=$(sed -E 's/.*oom\/timeout\/crash: ([0-9]+\/[0-9]+\/[0-9]+).*/\1/' <<<"$last")
    files=$(find "fuzz/corpus/$t" -type f | wc -l)
    line=$(printf '%-16s %12s %8s %7s %7s %7s %s' "$t" "${execs:-?}" "${rate:-?}" "$took" "${corp:-?}" "$files" "${bad:-?}")
    echo "$line"
    summary+=("$line")
    find "fuzz/artifacts/$t" -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' \) \
        -printf '    %p\n'
done

printf '\n%-16s %12s %8s %7s %7s %7s %s\n' target execs exec/s secs corp files 'oom/timeout/crash'
printf '%s\n' "${summary[@]}"
