#!/usr/bin/env bash
# Runs each libFuzzer target (fuzz/fuzz_*.c, built by `make fuzz` under ASan + UBSan in
# build-fuzz/) for SECONDS seconds, seeded from the test inputs. New inputs collect in
# build-fuzz/corpus/<target>/ (kept between runs), a crash, leak or UB report leaves its input in
# build-fuzz/crashes/. Prints one line per target; exits 1 if any target failed.
#   scripts/fuzz.sh SECONDS build-fuzz/fuzz/fuzz_csv ...
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${1:?usage: scripts/fuzz.sh SECONDS FUZZ_BINARY...}
shift
root=build-fuzz

# The test inputs each target starts from.
seeds_of() {
  case "$1" in
    csv | resume) ls tests/fixtures/*.csv results/h100-80gb-hbm3/*.csv ;;
    npy) find tests/golden -name '*.npy' -size -4k ;;
    case) ls tests/golden/*/case.txt tests/golden_more/*/case.txt 2>/dev/null ;;
    runopts) ls fuzz/seeds/runopts/* ;;
  esac
}

failed=0
for bin in "$@"; do
  name=${bin##*/fuzz_}
  corpus=$root/corpus/$name seeds=$root/seeds/$name log=$root/logs/$name.log
  mkdir -p "$corpus" "$root/logs" "$root/crashes"
  rm -rf "$seeds" && mkdir -p "$seeds"
  seeds_of "$name" | while read -r f; do cp "$f" "$seeds/${f//\//_}"; done
  # -close_fd_mask=3: the parsers' own error lines stay quiet (sanitizer reports still print);
  # -timeout: an input taking 10 s is a hang; allocations over -rss_limit_mb count as crashes.
  "$bin" -max_total_time="$secs" -close_fd_mask=3 -timeout=10 -rss_limit_mb=2048 \
         -artifact_prefix="$root/crashes/$name-" "$corpus" "$seeds" >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
  if [ $rc -eq 0 ] && [ -n "$runs" ]; then
    printf 'fuzz %-8s ok    %9s runs in %ss, corpus %s inputs\n' "$name" "$runs" "$secs" "$(ls "$corpus" | wc -l)"
  else
    failed=1
    printf 'fuzz %-8s FAIL  (exit %d); the log %s ends:\n' "$name" "$rc" "$log"
    tail -n 40 "$log" | sed 's/^/    /'
    echo "    the input is in $root/crashes/$name-*: fix the parser and add the bytes to tests/test_fuzz_regress.c"
  fi
done
exit $failed
