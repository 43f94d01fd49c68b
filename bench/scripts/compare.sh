#!/usr/bin/env bash
# Starts herald, soketi and the baseline on loopback ports of their own, runs one
# `herald-bench compare` against the three, and stops them. Usage, from the repository root:
#   bench/scripts/compare.sh <scenario> [herald-bench flags...]
# e.g. bench/scripts/compare.sh fanout --subscribers 10000 --rate 20 --duration 20s --json out.json --png out.png
#      bench/scripts/compare.sh rooms --users 2000 --rooms 200 --rooms-per-user 2 --churn-rate 50 --churn-duration 20s
# HERALD_NODES=3 measures a 3-node herald cluster (bench/configs/herald-cluster-node*.yaml, on
# 6301-6303; sockets spread over the nodes, CPU and RSS summed) in place of the single herald.
# Ports: herald 6301, soketi 6311 (metrics 9711), baseline 6321 — not the peers' defaults, so
# that a server someone else started cannot share them (uWebSockets listens with SO_REUSEPORT:
# a second soketi on the same port silently takes half the connections).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
scenario=${1:?usage: compare.sh <scenario> [flags...]}
shift
mkdir -p bin
# HERALD_BIN runs a herald binary built earlier (to measure one version across runs while the
# tree changes); otherwise herald is built from the working tree.
herald=${HERALD_BIN:-bin/herald}
if [[ -z ${HERALD_BIN:-} ]]; then go build -o bin/herald ./cmd/herald; fi
nodes=${HERALD_NODES:-1}
# herald refuses HERALD_* variables that are not its keys: these two are this script's.
unset HERALD_BIN HERALD_NODES
go build -o bin/herald-bench ./cmd/herald-bench
go build -o bin/baseline ./bench/baseline/cmd/baseline

pids=()
# soketi is not this shell's child (its start script detaches it), so wait for every process by
# polling, up to 10 s, before the next run may reuse the ports.
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# soketi's start script lives in the shared folder beside the repository (or its worktree);
# SOKETI_START points elsewhere.
soketi_start=${SOKETI_START:-$(git -C "$root" rev-parse --show-toplevel)/../shared/peers/soketi/start.sh}
if [[ ! -x $soketi_start ]]; then
  echo "compare.sh: no soketi start script at $soketi_start (set SOKETI_START)" >&2
  exit 1
fi

ulimit -n "$(ulimit -Hn)"
herald_target="name=herald,http=http://127.0.0.1:6301"
hpids=()
if [[ $nodes == 1 ]]; then
  "$herald" --config bench/configs/herald-bench.yaml --listen 127.0.0.1:6301 >/tmp/bench-herald.log 2>&1 &
  hpids+=($!)
  herald_target+=",ws=ws://127.0.0.1:6301,pid=$!"
else
  herald_target="name=herald-${nodes}-nodes,http=http://127.0.0.1:6301"
  for i in $(seq 1 "$nodes"); do
    "$herald" --config "bench/configs/herald-cluster-node$i.yaml" >"/tmp/bench-herald-node$i.log" 2>&1 &
    hpids+=($!)
    herald_target+=",ws=ws://127.0.0.1:630$i,pid=$!"
  done
fi
pids+=("${hpids[@]}")
bin/baseline --listen 127.0.0.1:6321 >/tmp/bench-baseline.log 2>&1 &
bpid=$!; pids+=("$bpid")
export PEER_DIR=${PEER_DIR:-/tmp/peer-soketi-bench}
spid=$("$soketi_start" "$root/bench/configs/soketi-bench.json")
pids+=("$spid")
for port in $(seq 6301 $((6300 + nodes))) 6321; do
  for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
done
if [[ $nodes != 1 ]]; then # every node ready: the cluster has formed
  for i in $(seq 1 "$nodes"); do
    for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:963$i/ready" && break; sleep 0.1; done
  done
fi
echo "herald pids ${hpids[*]}, soketi pid $spid, baseline pid $bpid" >&2

bin/herald-bench compare "$scenario" \
  --target "$herald_target" \
  --target "name=soketi,ws=ws://127.0.0.1:6311,http=http://127.0.0.1:6311,pid=$spid" \
  --target "name=baseline,ws=ws://127.0.0.1:6321,http=http://127.0.0.1:6321,pid=$bpid" \
  "$@"
