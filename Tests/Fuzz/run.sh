#!/usr/bin/env bash
# Builds the libFuzzer targets of the DataIO file readers and runs each for a bounded time.
#
#   Tests/Fuzz/run.sh [seconds-per-target] [target ...]
#
# seconds-per-target defaults to 30; targets default to all: idx mnist-loader cifar10 checkpoint
# safetensors. Everything goes to .build-fuzz/ (git-ignored): the binaries, the growing corpus
# (.build-fuzz/corpus/<target>, kept between runs), logs, and the inputs that crashed or hung
# (.build-fuzz/artifacts/<target>/crash-*, timeout-*, oom-*). Exits 1 if any target failed.
#
# Environment: SWIFTC (default: swiftc on PATH), FUZZ_JOBS (parallel builds, default 2),
# FUZZ_BUILD_ONLY=1 (build, do not run), FUZZ_EXTRA_ARGS (more libFuzzer flags).
set -euo pipefail

seconds=${1:-30}
shift || true
all_targets=(idx mnist-loader cifar10 checkpoint safetensors)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")

root=$(cd "$(dirname "$0")/../.." && pwd)
fuzz="$root/Tests/Fuzz"
out="$root/.build-fuzz"
swiftc=${SWIFTC:-swiftc}
cd "$root"

source_of() {   # target name -> harness file
    case "$1" in
        idx) echo FuzzIDX.swift ;;
        mnist-loader) echo FuzzMNISTLoader.swift ;;
        cifar10) echo FuzzCIFAR10.swift ;;
        checkpoint) echo FuzzCheckpoint.swift ;;
        safetensors) echo FuzzSafeTensors.swift ;;
        *) echo "unknown target '$1' (known: ${all_targets[*]})" >&2; exit 2 ;;
    esac
}
max_len_of() {  # largest input libFuzzer generates: room for a few records or tensors
    case "$1" in
        cifar10) echo 16384 ;;
        *) echo 4096 ;;
    esac
}
dict_of() {     # tokens the mutations splice in (magic numbers, JSON keys, edge integers)
    case "$1" in
        mnist-loader) echo idx.dict ;;
        *) echo "$1.dict" ;;
    esac
}
for t in "${targets[@]}"; do source_of "$t" >/dev/null; done

# -sanitize=fuzzer instruments for coverage and links libFuzzer's main; address adds ASan
# (Swift code is memory-safe, but DataIO uses unsafe pointers, memcpy and zlib). -O as in a
# release build, so the readers' overflow and bounds checks stay in; -g for symbolized stacks.
flags=(-sanitize=fuzzer,address -parse-as-library -O -g)
# The toolchain's lld links without gold's "Cannot export local symbol __asan_*" noise.
if [ -x "$(dirname "$(command -v "$swiftc")")/ld.lld" ]; then link=(-use-ld=lld); else link=(); fi

mkdir -p "$out/lib"
start=$(date +%s)
echo "== building DataIO (instrumented) into $out/lib"
"$swiftc" "${flags[@]}" -emit-library -static -emit-module -module-name DataIO \
    -emit-module-path "$out/lib/DataIO.swiftmodule" -I Sources/CZlib \
    Sources/DataIO/*.swift -o "$out/lib/libDataIO.a"

build_target() {
    local t=$1 source
    source=$(source_of "$t")
    "$swiftc" "${flags[@]}" "${link[@]}" -module-name "${source%.swift}" \
        "$fuzz/FuzzSupport.swift" "$fuzz/$source" \
        -I "$out/lib" -I Sources/CZlib -L "$out/lib" -lDataIO -lz -o "$out/fuzz-$t"
}
echo "== building targets: ${targets[*]}"
pids=()
for t in "${targets[@]}"; do
    build_target "$t" &
    pids+=($!)
    if [ ${#pids[@]} -ge "${FUZZ_JOBS:-2}" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
for p in "${pids[@]}"; do wait "$p"; done
echo "== built in $(( $(date +%s) - start )) s"
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

# Swift's own crash backtracer reads memory in a way ASan reports as a stack-buffer-underflow,
# hiding the real failure: leave crash reports to libFuzzer and ASan.
export SWIFT_BACKTRACE=${SWIFT_BACKTRACE:-enable=no}
failed=()
for t in "${targets[@]}"; do
    corpus="$out/corpus/$t" artifacts="$out/artifacts/$t" log="$out/logs/$t.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    touch "$out/logs/.$t.started"   # to list only this run's artifacts
    echo "== fuzzing $t for ${seconds} s (log: ${log#"$root"/})"
    # New inputs go to the first directory only: the committed seeds stay as they are.
    # shellcheck disable=SC2086
    if "$out/fuzz-$t" "$corpus" "$fuzz/corpus/$t" \
        -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 -max_len="$(max_len_of "$t")" \
        -dict="$fuzz/dict/$(dict_of "$t")" -artifact_prefix="$artifacts/" -print_final_stats=1 ${FUZZ_EXTRA_ARGS:-} >"$log" 2>&1; then
        { grep -E '^#[0-9]+' "$log" | tail -1; grep -E '^stat::number_of_executed_units' "$log"; } | sed 's/^/   /' || true
    else
        failed+=("$t")
        echo "!! $t FAILED; last lines of the log:"
        { grep -E 'Fatal error|Swift runtime failure|ERROR: (libFuzzer|AddressSanitizer)' "$log" | head -5
          grep -E '^ +#[0-9]+ ' "$log" | head -12
          find "$artifacts" -type f -newer "$out/logs/.$t.started" | sed "s|^$root/|saved: |"; } | sed 's/^/   /' || true
    fi
done

echo "== total $(( $(date +%s) - start )) s"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzzing found failures in: ${failed[*]}" >&2
    echo "reproduce: .build-fuzz/fuzz-<target> <saved input>; keep it under Tests/DataIOTests/FuzzRegressions/<target>/" >&2
    exit 1
fi
echo "no failures"
