#!/usr/bin/env bash
# Builds the libFuzzer targets of Tests/Fuzz (MendCore's JSON parser and flattener,
# compiled with swiftc -sanitize=fuzzer,address) and runs each for a bounded time.
#
#   scripts/fuzz.sh [SECONDS]        # default 30 s per target
#   FUZZ_TARGETS=fuzz-json scripts/fuzz.sh 600
#   FUZZ_JOBS=2 ...                  # libFuzzer -fork=N workers per target
#   FUZZ_ARGS="-only_ascii=1" ...    # extra libFuzzer flags
#   scripts/fuzz.sh --repro fuzz-flatten FILE...   # run inputs once (a crash file, a corpus)
#
# Exits non-zero when a target crashes, hangs (-timeout), runs out of memory
# (-rss_limit_mb) or breaks one of its properties; the crashing input is in
# .build-fuzz/artifacts/<target>/ and its path is printed. New corpus entries go to
# .build-fuzz/corpus/<target>/ (Tests/Fuzz/corpus/<target>/ is the committed seed).
# Builds run under flock /tmp/swift-build.lock (the machine's two cores are shared).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=${FUZZ_BUILD_DIR:-$ROOT/.build-fuzz}
SWIFTC=${SWIFTC:-swiftc}
TARGETS=(${FUZZ_TARGETS:-fuzz-json fuzz-flatten})
LOCK=/tmp/swift-build.lock
RSS_MB=${FUZZ_RSS_MB:-2048}
TIMEOUT=${FUZZ_TIMEOUT:-10}
MAX_LEN=${FUZZ_MAX_LEN:-8192}

mode=run
if [ "${1:-}" = "--repro" ]; then
  mode=repro
  shift
  [ $# -ge 2 ] || { echo "usage: scripts/fuzz.sh --repro TARGET FILE..." >&2; exit 2; }
  TARGETS=("$1")
  shift
else
  SECONDS_EACH=${1:-30}
  [[ "$SECONDS_EACH" =~ ^[0-9]+$ ]] || { echo "usage: scripts/fuzz.sh [SECONDS]" >&2; exit 2; }
fi

command -v "$SWIFTC" >/dev/null || { echo "fuzz: $SWIFTC not found (Swift 6 toolchain)" >&2; exit 1; }
resdir=$("$SWIFTC" -print-target-info 2>/dev/null | sed -n 's/.*"runtimeResourcePath": "\(.*\)".*/\1/p' | head -1)
if ! ls "$resdir"/clang/lib/*/libclang_rt.fuzzer*.a >/dev/null 2>&1 \
   && ! ls "$resdir"/clang/lib/*/*/libclang_rt.fuzzer*.a >/dev/null 2>&1; then
  echo "fuzz: this toolchain has no libFuzzer runtime (libclang_rt.fuzzer) under $resdir/clang" >&2
  exit 1
fi

# The flags MendCore builds with in Package.swift (language mode 6, strict upcoming features).
STRICT=(-swift-version 6 -enable-upcoming-feature ExistentialAny -enable-upcoming-feature MemberImportVisibility
        -enable-upcoming-feature InternalImportsByDefault)
SAN=(-sanitize=fuzzer,address -O -g)
# lld links the sanitizer runtimes without gold's page of "Cannot export local symbol" warnings.
LD=()
[ -x "$(dirname "$(command -v "$SWIFTC")")/ld.lld" ] && LD=(-use-ld=lld)

# True when the build lock is already held by this script's caller (for instance
# `flock /tmp/swift-build.lock make test`): taking it again would wait forever.
lock_held_above() {
  [ -e "$LOCK" ] && [ -r /proc/locks ] || return 1
  local ino holders p=$$
  ino=$(stat -c %i "$LOCK")
  holders=" $(awk -v ino="$ino" '$2 == "FLOCK" { n = split($6, a, ":"); if (a[n] == ino) printf "%s ", $5 }' /proc/locks) "
  while [ "${p:-0}" -gt 1 ]; do
    case $holders in *" $p "*) return 0 ;; esac
    p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
  done
  return 1
}
locked() {
  if command -v flock >/dev/null && ! lock_held_above; then flock "$LOCK" "$@"; else "$@"; fi
}

# Rebuilds only when a source is newer than what was built from it.
stale() { # output inputs...
  local out=$1; shift
  [ -e "$out" ] || return 0
  [ -n "$(find "$@" -newer "$out" -print -quit)" ]
}

build() {
  mkdir -p "$OUT/lib"
  local t0=$SECONDS
  mapfile -t core < <(find Sources/MendCore -name '*.swift' | sort)
  if stale "$OUT/lib/libMendCore.a" "${core[@]}" scripts/fuzz.sh; then
    echo "fuzz: building MendCore (${#core[@]} files) with -sanitize=fuzzer,address"
    locked "$SWIFTC" "${STRICT[@]}" "${SAN[@]}" -parse-as-library -module-name MendCore -emit-library -static \
      -emit-module -emit-module-path "$OUT/lib/MendCore.swiftmodule" -o "$OUT/lib/libMendCore.a" "${core[@]}"
  fi
  for t in "${TARGETS[@]}"; do
    local entry
    case $t in
      fuzz-json) entry=Tests/Fuzz/FuzzJSON.swift ;;
      fuzz-flatten) entry=Tests/Fuzz/FuzzFlatten.swift ;;
      *) echo "fuzz: unknown target $t" >&2; exit 2 ;;
    esac
    if stale "$OUT/$t" "$entry" Tests/Fuzz/Support.swift "$OUT/lib/libMendCore.a"; then
      echo "fuzz: building $t"
      locked "$SWIFTC" "${STRICT[@]}" "${SAN[@]}" -parse-as-library -module-name "${t//-/_}" -I "$OUT/lib" "${LD[@]}" \
        Tests/Fuzz/Support.swift "$entry" "$OUT/lib/libMendCore.a" -o "$OUT/$t"
    fi
  done
  echo "fuzz: build took $((SECONDS - t0)) s"
}

build

# Leak checking is off: the Swift runtime keeps metadata caches for the life of the
# process, which LeakSanitizer reports; memory growth is bounded by -rss_limit_mb instead.
# The Swift runtime's own crash backtracer would hold the output pipe open after a crash
# and compete with libFuzzer's handlers; libFuzzer and ASan print the stack instead.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1:symbolize=1}
sym="$(dirname "$(command -v "$SWIFTC")")/llvm-symbolizer"
[ -x "$sym" ] && export ASAN_SYMBOLIZER_PATH=$sym
COMMON=(-dict=Tests/Fuzz/json.dict -rss_limit_mb="$RSS_MB" -timeout="$TIMEOUT" -max_len="$MAX_LEN" -detect_leaks=0 -print_final_stats=1)

if [ $mode = repro ]; then
  exec "$OUT/${TARGETS[0]}" "${COMMON[@]}" "$@"
fi

status=0
passed=0
failed=0
for t in "${TARGETS[@]}"; do
  corpus=$OUT/corpus/$t
  artifacts=$OUT/artifacts/$t
  log=$OUT/$t.log
  mkdir -p "$corpus" "$artifacts"
  # Saved reproducers of known findings run once first: they must not fail for another reason.
  known=(Tests/Fuzz/crashes/$t/*)
  if [ -e "${known[0]}" ]; then
    if ! "$OUT/$t" "${COMMON[@]}" "${known[@]}" >"$log.known" 2>&1; then
      status=1
      echo "fuzz: $t fails on a saved reproducer in Tests/Fuzz/crashes/$t/:" >&2
      tail -30 "$log.known" >&2
      failed=$((failed + 1))
      continue
    fi
    echo "  $t: ${#known[@]} saved reproducer(s) in Tests/Fuzz/crashes/$t/ pass (see docs/security.md, Fuzzing)"
  fi
  extra=()
  [ -n "${FUZZ_JOBS:-}" ] && extra+=(-fork="$FUZZ_JOBS" -ignore_crashes=0)
  echo "fuzz: $t for ${SECONDS_EACH} s (log $log)"
  set +e
  # shellcheck disable=SC2086
  "$OUT/$t" "${COMMON[@]}" -max_total_time="$SECONDS_EACH" -artifact_prefix="$artifacts/" "${extra[@]}" \
    ${FUZZ_ARGS:-} "$corpus" "Tests/Fuzz/corpus/$t" >"$log" 2>&1
  rc=$?
  set -e
  # The seed-corpus line, the last progress line and the final statistics.
  grep -E '^#[0-9]+\s+(INITED|DONE)|^Done [0-9]+ runs|stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb|new_units_added)' "$log" | sed "s/^/  $t: /" || true
  if [ $rc -eq 0 ]; then
    passed=$((passed + 1))
  else
    status=1
    failed=$((failed + 1))
    echo "fuzz: $t FAILED (exit $rc); end of $log:" >&2
    grep -v '^#[0-9]' "$log" | tail -40 >&2
    found=$(grep -oE "(Test unit written to|written to) [^ ]+" "$log" | awk '{print $NF}' | tail -1 || true)
    [ -n "$found" ] || found=$(ls -t "$artifacts"/* 2>/dev/null | head -1 || true)
    echo "fuzz: crashing input: ${found:-(none written; see $log)}" >&2
    [ -n "$found" ] && echo "fuzz: reproduce with: scripts/fuzz.sh --repro $t $found" >&2
  fi
done
echo "fuzz: $passed passed, $failed failed"
exit $status
