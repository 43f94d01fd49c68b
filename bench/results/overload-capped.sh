#!/usr/bin/env bash
# How bench/RESULTS.md section 18 overloaded herald itself: herald runs in a cgroup (v1 cpu
# controller, needs root) capped at CAP_PERCENT of one core, so that it, not the load generator,
# is what the machine runs out of; the generator keeps the rest. Run from anywhere after
# go build -o bin/herald ./cmd/herald && go build -o bin/herald-bench ./cmd/herald-bench.
# usage: overload-capped.sh NAME CAP_PERCENT herald-bench-scenario-and-flags...
#   e.g. overload-capped.sh overload-capped 40 fanout --subscribers 10000 --rate 60 --duration 60s --drain 30s
# Writes NAME.log, NAME.json, NAME.metrics.txt (herald's /metrics at the end) and NAME.delay.txt
# (herald's write delay and RSS every half second) beside this script. HERALD_* settings pass through;
# BIN=path picks another herald binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
ulimit -n "$(ulimit -Hn)"
name=$1 cap=$2
shift 2
cg=/sys/fs/cgroup/cpu/herald-bench-capped
mkdir -p "$cg"
trap 'rmdir "$cg" 2>/dev/null || true' EXIT
echo 10000 > "$cg/cpu.cfs_period_us"
echo $((cap * 100)) > "$cg/cpu.cfs_quota_us"
"${BIN:-bin/herald}" --config bench/configs/herald-bench.yaml --listen 127.0.0.1:6351 --metrics-listen 127.0.0.1:9651 > "/tmp/$name.server.log" 2>&1 &
sp=$!
echo "$sp" > "$cg/cgroup.procs"
for _ in $(seq 1 100); do curl -sf -o /dev/null http://127.0.0.1:9651/ready && break; sleep 0.1; done
curl -sf -o /dev/null http://127.0.0.1:9651/ready || { cat "/tmp/$name.server.log"; exit 1; }
# Every half second: the time, herald's write delay (what backpressure compares with max_delay),
# its RSS (KB), its CPU time so far (clock ticks, user + system) and the frames its fan-outs
# have queued so far (herald_messages_sent_total, all kinds), and the triggers it answered with
# 200 and with 503 so far (herald_http_requests_total).
( while kill -0 "$sp" 2>/dev/null; do
    m=$(curl -s http://127.0.0.1:9651/metrics)
    printf '%s %s %s %s %s %s %s\n' "$(date +%s.%N | cut -c1-14)" "$(grep -E '^herald_write_delay_seconds' <<< "$m" | awk '{print $2}')" \
      "$(awk '/VmRSS/ {print $2}' "/proc/$sp/status" 2>/dev/null)" \
      "$(awk '{print $14 + $15}' "/proc/$sp/stat" 2>/dev/null)" \
      "$(grep -E '^herald_messages_sent_total' <<< "$m" | awk '{s += $2} END {printf "%.0f", s}')" \
      "$(grep -E '^herald_http_requests_total.*status="200"' <<< "$m" | awk '{s += $2} END {printf "%.0f", s}')" \
      "$(grep -E '^herald_http_requests_total.*status="503"' <<< "$m" | awk '{s += $2} END {printf "%.0f", s}')"
    sleep 0.5
  done ) > "$here/$name.delay.txt" &
# BENCH_GOGC / BENCH_GODEBUG: the load generator's own GOGC and GODEBUG (its stderr, where
# GODEBUG=gctrace=1 writes, goes to NAME.bench-stderr.txt).
GOGC="${BENCH_GOGC:-${GOGC:-100}}" GODEBUG="${BENCH_GODEBUG:-${GODEBUG:-}}" \
  bin/herald-bench "$@" --name "herald-capped-$cap" --ws ws://127.0.0.1:6351 --http http://127.0.0.1:6351 \
  --server-pid "$sp" --json "$here/$name.json" --quiet > "$here/$name.log" 2> "$here/$name.bench-stderr.txt" || true
[ -s "$here/$name.bench-stderr.txt" ] || rm -f "$here/$name.bench-stderr.txt"
curl -s http://127.0.0.1:9651/metrics | grep -E '^herald_(http_backpressure|writer_delay|http_requests_total|messages_sent_total|http_request_duration_seconds_(sum|count))' > "$here/$name.metrics.txt" || true
grep -E 'nr_periods|nr_throttled|throttled_time' "$cg/cpu.stat" >> "$here/$name.metrics.txt"
kill "$sp"
wait "$sp" || true
