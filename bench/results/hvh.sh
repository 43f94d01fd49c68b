#!/usr/bin/env bash
# How bench/RESULTS.md section 17 compared two herald builds (run from the repository root after go build -o bin/herald-bench ./cmd/herald-bench).
# herald vs herald: usage hvh.sh NEWBIN OLDBIN scenario flags...
cd "$(dirname "$0")/../.."
ulimit -n "$(ulimit -Hn)"
NEW=$1; OLD=$2; shift 2
$NEW --config bench/configs/herald-bench.yaml --listen 127.0.0.1:6351 --metrics-listen 127.0.0.1:0 > /tmp/hvh-new.log 2>&1 & np=$!
$OLD --config bench/configs/herald-bench.yaml --listen 127.0.0.1:6352 --metrics-listen 127.0.0.1:0 > /tmp/hvh-old.log 2>&1 & op=$!
sleep 1.5
sc=$1; shift
bin/herald-bench compare $sc --target "name=new,ws=ws://127.0.0.1:6351,http=http://127.0.0.1:6351,pid=$np" --target "name=old,ws=ws://127.0.0.1:6352,http=http://127.0.0.1:6352,pid=$op" --quiet "$@"
echo "rc=$?"
kill $np $op; wait
