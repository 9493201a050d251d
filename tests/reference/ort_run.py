#!/usr/bin/env python3
"""Independent reference: run an ONNX file with onnxruntime (1 thread) after onnx's full checker.

usage: ort_run.py MODEL.onnx OUT_DIR NAME=IN.npy [NAME=IN.npy ...]
Writes OUT_DIR/<output name>.npy for every graph output.
"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort


def main() -> int:
    model_path, out_dir, *pairs = sys.argv[1:]
    onnx.checker.check_model(onnx.load(model_path), full_check=True)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])
    feeds = {}
    for p in pairs:
        name, path = p.split("=", 1)
        feeds[name] = np.load(path).astype(np.float32)
    outs = sess.run(None, feeds)
    os.makedirs(out_dir, exist_ok=True)
    for meta, value in zip(sess.get_outputs(), outs):
        np.save(os.path.join(out_dir, meta.name + ".npy"), np.asarray(value, dtype=np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
