#!/usr/bin/env bash
# How bench/RESULTS.md section 14 measured one herald against a 3-node cluster, and section 17 with the argument rooms15k-cluster-b
# (run from the repository root after go build -o bin/herald ./cmd/herald and go build -o bin/herald-bench ./cmd/herald-bench).
out=${1:-rooms15k-cluster}
# One node against a 3-node cluster (users spread over the nodes), the rooms load, one compare run.
cd "$(dirname "$0")/../.."
ulimit -n "$(ulimit -Hn)"
pids=()
bin/herald --config bench/configs/herald-bench.yaml --listen 127.0.0.1:6351 --metrics-listen 127.0.0.1:0 > /tmp/cr-single.log 2>&1 & sp=$!; pids+=($sp)
t="name=herald-3-nodes,http=http://127.0.0.1:6301"
for i in 1 2 3; do bin/herald --config bench/configs/herald-cluster-node$i.yaml > /tmp/cr-node$i.log 2>&1 & pids+=($!); t+=",ws=ws://127.0.0.1:630$i,pid=$!"; done
for i in 1 2 3; do for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:963$i/ready" && break; sleep 0.1; done; done
sleep 2
bin/herald-bench compare rooms --target "name=herald-1-node,ws=ws://127.0.0.1:6351,http=http://127.0.0.1:6351,pid=$sp" --target "$t" \
  --users 15000 --rooms 3000 --rooms-per-user 2 --churn-rate 500 --churn-duration 30s --drain 30s --timeout 15m --quiet \
  --json "bench/results/$out.json" --png "bench/results/$out.png" > "bench/results/$out.log" 2>&1
echo "rc=$?"
for p in "${pids[@]}"; do kill $p; done
