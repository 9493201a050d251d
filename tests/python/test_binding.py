"""Checks python/fewstep.py (the C API through ctypes) against the fewstep CLI, which runs the
Rust API: run by tests/python.rs with the reference venv's Python.

usage: test_binding.py FEWSTEP_BIN REPO_ROOT TMP_DIR
(FEWSTEP_LIB names the shared library; PYTHONPATH holds python/.)
"""

import json
import os
import subprocess
import sys
import threading
import traceback

import numpy as np

import fewstep

BIN, ROOT, TMP = sys.argv[1:4]
TOY = os.path.join(ROOT, "models", "toy-velocity.onnx")
TOY_COND = os.path.join(ROOT, "models", "toy-cond.npy")
ETH = os.path.join(ROOT, "models", "eth", "reflow.onnx")
SCENE = os.path.join(ROOT, "data", "eth_ucy", "biwi_eth.txt")


def cli(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    assert r.returncode == 0, f"fewstep {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def raises(status, fn, *contains):
    try:
        fn()
    except fewstep.FewstepError as e:
        assert e.status == status, f"expected {status}, got {e.status}: {e}"
        for c in contains:
            assert c in e.message, f"{c!r} not in {e.message!r}"
        return e
    raise AssertionError(f"expected FewstepError {status}")


def test_version_matches_the_cli():
    assert cli("--version").split() == ["fewstep", fewstep.version()]


def test_bad_models_are_errors_that_name_the_problem():
    raises("IO", lambda: fewstep.Model(os.path.join(TMP, "missing.onnx")), "missing.onnx")
    data = open(TOY, "rb").read()
    raises("BAD_MODEL", lambda: fewstep.Model(data[: len(data) // 2]))
    raises("BAD_MODEL", lambda: fewstep.Model(b"\x00garbage" * 10))
    m = fewstep.Model(data)
    m.close()
    m.close()
    try:
        fewstep.Session(m)
        raise AssertionError("a closed model built a session")
    except ValueError as e:
        assert "closed" in str(e)


def test_session_samples_what_the_cli_samples():
    model = fewstep.Model(TOY)
    cond = np.load(TOY_COND)
    noise = np.random.default_rng(3).standard_normal((cond.shape[0], 24)).astype(np.float32)
    np.save(os.path.join(TMP, "noise.npy"), noise)
    out_path = os.path.join(TMP, "out.npy")
    with fewstep.Session(model, batch=cond.shape[0], backend="native") as s:
        assert (s.state_len, s.cond_len, s.batch_rows) == (noise.size, cond.size, cond.shape[0])
        ours = s.sample(cond, noise)
        cli("sample", TOY, "--cond", TOY_COND, "--noise", os.path.join(TMP, "noise.npy"),
            "--out", out_path, "--backend", "native")
        assert np.array_equal(ours, np.load(out_path)), "Session.sample differs from fewstep sample"
        # two rows of the batch: the first two rows of the full sample, to f32 rounding
        part = s.sample(cond[:2], noise[:2], rows=2)
        assert np.allclose(part, ours[:2], rtol=1e-5, atol=1e-5)
        # another grid, as `fewstep sample --steps 2` sets it
        s.set_sampler("euler", [0.0, 0.5, 1.0])
        cli("sample", TOY, "--cond", TOY_COND, "--noise", os.path.join(TMP, "noise.npy"),
            "--out", out_path, "--backend", "native", "--steps", "2")
        assert np.array_equal(s.sample(cond, noise), np.load(out_path))
        w, a = s.memory()
        assert w > 0 and a > 0
        # bad input: wrong lengths, NaN, an unknown method, a bad grid
        raises("WRONG_LENGTH", lambda: s.sample(cond[:1], noise))
        bad = cond.copy()
        bad[1, 3] = np.nan
        raises("NON_FINITE", lambda: s.sample(bad, noise), "index")
        raises("INVALID_ARGUMENT", lambda: s.set_sampler("euler", [0.0, 0.0, 1.0]))
        try:
            s.set_sampler("rk4", [0.0, 1.0])
            raise AssertionError("an unknown method was taken")
        except ValueError as e:
            assert "euler" in str(e)
    raises("INVALID_ARGUMENT", lambda: fewstep.Session(model, batch=2**40), "elements")


def test_run_computes_what_fewstep_run_computes():
    info = json.loads(cli("info", TOY, "--dim", "N=3"))
    model = fewstep.Model(TOY)
    s = fewstep.Session(model, batch=3, backend="native")
    rng = np.random.default_rng(11)
    inputs, args = [], []
    for spec, n in zip(info["inputs"], s.input_lens):
        shape = [3 if d == "N" else d for d in spec["shape"]]
        assert int(np.prod(shape)) == n, (spec, n)
        x = rng.standard_normal(shape).astype(np.float32)
        path = os.path.join(TMP, f"in-{spec['name']}.npy")
        np.save(path, x)
        inputs.append(x)
        args += ["--input", f"{spec['name']}={path}"]
    outs = s.run(*inputs)
    assert [y.size for y in outs] == s.output_lens and len(outs) == len(info["outputs"])
    cli("run", TOY, *args, "--output-dir", TMP, "--backend", "native")
    for spec, y in zip(info["outputs"], outs):
        want = np.load(os.path.join(TMP, f"{spec['name']}.npy")).reshape(-1)
        assert np.array_equal(y, want), spec["name"]
    raises("WRONG_LENGTH", lambda: s.run(*inputs[:2]))
    raises("WRONG_LENGTH", lambda: s.run(inputs[0][:2], *inputs[1:]))


def test_one_session_shared_by_threads_gives_each_its_own_samples():
    model = fewstep.Model(TOY)
    cond = np.load(TOY_COND)
    s = fewstep.Session(model, batch=cond.shape[0], backend="native")
    rng = np.random.default_rng(8)
    noises = [rng.standard_normal((cond.shape[0], 24)).astype(np.float32) for _ in range(4)]
    expected = [s.sample(cond, z) for z in noises]
    failures = []

    def work(i):
        for _ in range(200):
            if not np.array_equal(s.sample(cond, noises[i]), expected[i]):
                failures.append(i)
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, f"threads {failures} got another thread's sample"


def read_frames(path):
    """The scene's frames in order, each (frame, ids, xy) with rows sorted by agent."""
    rows = np.loadtxt(path, dtype=np.float64)
    frames = []
    for f in np.unique(rows[:, 0]):
        r = rows[rows[:, 0] == f]
        r = r[np.argsort(r[:, 1], kind="stable")]
        frames.append((f, r[:, 1], r[:, 2:4].astype(np.float32)))
    return frames


def test_forecaster_forecasts_what_fewstep_stream_forecasts():
    head = os.path.join(TMP, "eth-head.txt")
    with open(SCENE) as src, open(head, "w") as dst:
        dst.writelines(src.readlines()[:800])
    frames = read_frames(head)
    most = max(len(ids) for _, ids, _ in frames)
    lines = cli("stream", "--model", ETH, "--input", head, "--seed", "5",
                "--max-agents", str(most)).splitlines()
    assert len(lines) == len(frames)
    f = fewstep.Forecaster(fewstep.Model(ETH), max_agents=most, seed=5)
    assert f.k == 20
    forecast = 0
    for (frame, ids, xy), line in zip(frames, lines):
        want = json.loads(line)
        assert want["frame"] == frame
        f.observe(frame, ids, xy)
        got_ids, futures = f.predict()
        assert futures.shape == (len(got_ids), 20, 12, 2)
        assert [a["id"] for a in want["agents"]] == list(got_ids)
        for a, fut in zip(want["agents"], futures):
            assert np.array_equal(np.array(a["futures"], dtype=np.float32), fut), f"frame {frame}"
        forecast += len(got_ids)
    assert forecast > 100, forecast
    # the same frames on 2 threads: the same forecasts to f32 rounding
    f1 = fewstep.Forecaster(fewstep.Model(ETH), max_agents=most, seed=5)
    f2 = fewstep.Forecaster(fewstep.Model(ETH), max_agents=most, seed=5, threads=2)
    for frame, ids, xy in frames[:60]:
        f1.observe(frame, ids, xy)
        f2.observe(frame, ids, xy)
        (i1, a), (i2, b) = f1.predict(), f2.predict()
        assert np.array_equal(i1, i2)
        assert np.allclose(a, b, rtol=1e-5, atol=1e-5), f"frame {frame}"


def test_a_refused_frame_changes_nothing():
    model = fewstep.Model(ETH)
    a = fewstep.Forecaster(model, max_agents=2, seed=1)
    b = fewstep.Forecaster(model, max_agents=2, seed=1)
    for step in range(8):
        xy = np.array([[0.4 * step, 0.0], [1.0, 0.3 * step]], dtype=np.float32)
        for f in (a, b):
            f.observe(10.0 * step, [1, 2], xy)
        if step == 4:
            # three agents for two slots, a frame going back, a NaN, a repeated agent
            raises("CAPACITY", lambda: a.observe(45.0, [1, 2, 3], np.zeros((3, 2))))
            raises("INVALID_ARGUMENT", lambda: a.observe(5.0, [1, 2], xy))
            raises("NON_FINITE", lambda: a.observe(46.0, [1, 2], [[0, 0], [np.nan, 0]]))
            raises("INVALID_ARGUMENT", lambda: a.observe(47.0, [1, 1], xy))
    ids_a, fut_a = a.predict()
    ids_b, fut_b = b.predict()
    assert list(ids_a) == [1.0, 2.0] and np.array_equal(ids_a, ids_b)
    assert np.array_equal(fut_a, fut_b)
    try:
        a.observe(100.0, [1, 2, 3], np.zeros((2, 2)))
        raise AssertionError("3 ids with 2 positions were taken")
    except ValueError as e:
        assert "3 agent ids but 2 positions" in str(e)
    raises("INVALID_ARGUMENT", lambda: fewstep.Forecaster(model, max_agents=0))
    raises("INVALID_ARGUMENT", lambda: fewstep.Forecaster(model, max_agents=2**40), "elements")
    w, arena = a.memory()
    assert w > 0 and arena > 0


def main():
    tests = [(n, t) for n, t in globals().items() if n.startswith("test_") and callable(t)]
    failed = 0
    for name, t in tests:
        try:
            t()
            print(f"test {name} ... ok")
        except Exception:
            failed += 1
            print(f"test {name} ... FAILED")
            traceback.print_exc()
    print(f"{len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
