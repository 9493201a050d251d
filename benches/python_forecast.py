"""The streaming forecaster from Python (python/fewstep.py, ctypes) on a whole scene: median
time per frame of observe + predict, to compare with `fewstep forecast`'s figure for the same
scene and model (which runs the Rust API). Run from the repository root after
`cargo build --release`:

    .venv-ref/bin/python benches/python_forecast.py [MODEL] [SCENE] [ROUNDS]
"""

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import fewstep  # noqa: E402

model_path = sys.argv[1] if len(sys.argv) > 1 else "models/eth/reflow.onnx"
scene_path = sys.argv[2] if len(sys.argv) > 2 else "data/eth_ucy/biwi_eth.txt"
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3

rows = np.loadtxt(scene_path, dtype=np.float64)
frames = []
for f in np.unique(rows[:, 0]):
    r = rows[rows[:, 0] == f]
    r = r[np.argsort(r[:, 1], kind="stable")]
    frames.append((f, r[:, 1].copy(), r[:, 2:4].astype(np.float32)))
most = max(len(ids) for _, ids, _ in frames)
model = fewstep.Model(model_path)
for round_ in range(rounds):
    f = fewstep.Forecaster(model, max_agents=most, seed=0)
    times, agents = [], 0
    for frame, ids, xy in frames:
        t = time.perf_counter()
        f.observe(frame, ids, xy)
        got, _ = f.predict()
        times.append(time.perf_counter() - t)
        agents += len(got)
    print(
        f"round {round_}: {len(frames)} frames, {agents} agent forecasts, observe + predict "
        f"median {np.median(times) * 1e6:.1f} µs, mean {np.mean(times) * 1e6:.1f} µs per frame"
    )
