#!/usr/bin/env bash
# usage: benches/forecast_frames.sh (after cargo build --release)
# Streaming forecast of ETH's whole scene (876 frames) with the default student: µs per frame
# (observe + predict), padded vs fitted batches, 1 vs 2 threads, 5 interleaved rounds; medians.
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR=$(mktemp -d)
for round in 1 2 3 4 5; do
  for cfg in "--pad --threads 1" "--threads 1" "--pad --threads 2" "--threads 2"; do
    us=$(target/release/fewstep forecast --model models/eth/reflow.onnx --scene data/eth_ucy/biwi_eth.txt $cfg 2>&1 \
      | grep -o '[0-9.]* µs per frame' | cut -d' ' -f1)
    echo "$cfg|$us"
  done
done | python3 -c "
import sys, statistics, collections
d = collections.defaultdict(list)
for l in sys.stdin:
    k, v = l.strip().split('|'); d[k].append(float(v))
for k, v in d.items(): print(f'{k:<20} median {statistics.median(v):7.1f} µs per frame over {len(v)} runs: {v}')
"
