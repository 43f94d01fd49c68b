#!/usr/bin/env bash
# Two herald builds, each as a 3-node cluster, in one compare run (bench/RESULTS.md section 21).
# Usage, from the repository root after go build -o bin/herald-bench ./cmd/herald-bench:
#   bench/results/hvh-cluster.sh NEWBIN OLDBIN scenario flags...
# The new build runs on bench/configs/herald-cluster-node{1,2,3}.yaml (630x), the old one on
# copies of them moved to 640x (WebSocket), 964x (metrics), 714x (remoting), 644x (membership).
cd "$(dirname "$0")/../.."
ulimit -n "$(ulimit -Hn)"
NEW=$1; OLD=$2; shift 2
tmp=$(mktemp -d)
pids=()
new="name=new,http=http://127.0.0.1:6301"
old="name=old,http=http://127.0.0.1:6401"
for i in 1 2 3; do
  sed -e 's/630\([0-9]\)/640\1/g; s/963\([0-9]\)/964\1/g; s/713\([0-9]\)/714\1/g; s/634\([0-9]\)/644\1/g; s/name: herald-bench/name: herald-bench-old/' \
    bench/configs/herald-cluster-node$i.yaml > "$tmp/old$i.yaml"
  $NEW --config bench/configs/herald-cluster-node$i.yaml > /tmp/hvhc-new$i.log 2>&1 & pids+=($!); new+=",ws=ws://127.0.0.1:630$i,pid=$!"
  $OLD --config "$tmp/old$i.yaml" > /tmp/hvhc-old$i.log 2>&1 & pids+=($!); old+=",ws=ws://127.0.0.1:640$i,pid=$!"
done
for i in 1 2 3; do for p in 963 964; do for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$p$i/ready" && break; sleep 0.1; done; done; done
sleep 2
sc=$1; shift
bin/herald-bench compare "$sc" --target "$new" --target "$old" --quiet "$@"
echo "rc=$?"
for p in "${pids[@]}"; do kill "$p"; done
wait
rm -rf "$tmp"
