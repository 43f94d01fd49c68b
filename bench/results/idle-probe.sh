#!/usr/bin/env bash
# How bench/RESULTS.md section 17 read the memory of 15,000 idle sockets (herald alone, from the repository root after go build -o bin/herald-bench ./cmd/herald-bench); TAG names the output files in /tmp/mp.
# heap + memstats of herald at 15k idle subscribed sockets. usage: probe.sh BIN TAG
mkdir -p /tmp/mp && cd "$(dirname "$0")/../.."
ulimit -n "$(ulimit -Hn)"
BIN=$1; TAG=$2
HERALD_PPROF=true $BIN --config bench/configs/herald-bench.yaml --listen 127.0.0.1:6351 --metrics-listen 127.0.0.1:9651 > /tmp/mp/$TAG.server.log 2>&1 & sp=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null http://127.0.0.1:9651/ready && break; sleep 0.1; done
bin/herald-bench connect --name $TAG --ws ws://127.0.0.1:6351 --http http://127.0.0.1:6351 --server-pid $sp --connections 15000 --channels 100 --duration 40s --quiet > /tmp/mp/$TAG.bench.log 2>&1 &
b=$!
sleep 35
curl -s -o /tmp/mp/$TAG.heap.pb.gz http://127.0.0.1:9651/debug/pprof/heap
curl -s "http://127.0.0.1:9651/debug/pprof/heap?debug=1" | grep -E '^# (Heap|Stack|Sys|MSpan|NextGC|NumGC|Other|GCSys|BuckHash)' > /tmp/mp/$TAG.memstats
grep -E 'VmRSS|RssAnon|RssFile' /proc/$sp/status >> /tmp/mp/$TAG.memstats
wait $b
kill $sp; wait
