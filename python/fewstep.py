"""fewstep from Python: the C API (include/fewstep.h) through ctypes, with numpy arrays.

    import fewstep
    model = fewstep.Model("models/eth/reflow.onnx")
    f = fewstep.Forecaster(model, max_agents=32)
    for frame, ids, xy in frames:          # ids: (n,), xy: (n, 2) positions in metres
        f.observe(frame, ids, xy)
        ids_out, futures = f.predict()     # futures: (n, K, 12, 2), world positions

    s = fewstep.Session(model, batch=4)    # any carded model: the card's sampler
    out = s.sample(cond, noise)            # float32 arrays shaped like the card's inputs
    v, = s.run(x, t, cond)                 # or one pass of the graph, inputs in graph order

The shared library is found at $FEWSTEP_LIB, else next to this file (where the wheel of
scripts/python-wheel.py puts it), else in
../target/release (a checkout after `cargo build --release`), else by the system's loader.

Every call goes through the C API, so the contract is the same: no allocation on the hot path
inside fewstep, errors as `FewstepError` with fewstep's message (never a crash). Each object
takes its own lock around each call, so one object may be shared by Python threads (the calls
then run one at a time); the GIL is released while fewstep works, so separate objects run in
parallel. numpy arrays of other dtypes or layouts are converted (copied) to float32 (ids to
float64) first.
"""

import ctypes
import os
import sys
import threading

import numpy as np

__all__ = ["FewstepError", "Model", "Session", "Forecaster", "version", "library_path"]

STATUS_NAMES = [
    "OK",
    "NULL_POINTER",
    "INVALID_ARGUMENT",
    "WRONG_LENGTH",
    "NON_FINITE",
    "BAD_MODEL",
    "BAD_CARD",
    "UNSUPPORTED",
    "IO",
    "NO_CARD",
    "CAPACITY",
    "PANIC",
    "OTHER",
]
BACKENDS = {"auto": 0, "native": 1, "tract": 2, "gpu": 3}
PRECISIONS = {"f32": 0, "f16": 1}
METHODS = {"euler": 0, "heun": 1, "midpoint": 2}
FLAG_FIT_BATCHES = 1
#: Positions per forecast future (the C API's 24 floats: 12 steps of x, y).
PRED = 12


class FewstepError(Exception):
    """A fewstep call failed: `status` is the C status name (e.g. "IO", "CAPACITY"), `code`
    its number, and the message is fewstep's own."""

    def __init__(self, code, message):
        self.code = code
        self.status = STATUS_NAMES[code] if 0 <= code < len(STATUS_NAMES) else str(code)
        self.message = message
        super().__init__(f"{self.status}: {message}")


def _library_name():
    if sys.platform == "darwin":
        return "libfewstep.dylib"
    if sys.platform == "win32":
        return "fewstep.dll"
    return "libfewstep.so"


def library_path():
    """Where the shared library is loaded from (see the module docs)."""
    env = os.environ.get("FEWSTEP_LIB")
    if env:
        return env
    here = os.path.dirname(os.path.abspath(__file__))
    name = _library_name()
    for candidate in (
        os.path.join(here, name),
        os.path.join(here, "..", "target", "release", name),
    ):
        if os.path.exists(candidate):
            return os.path.normpath(candidate)
    return name


_lib = None
_lib_lock = threading.Lock()

_P = ctypes.c_void_p
_SIZE = ctypes.c_size_t
_U32 = ctypes.c_uint32
_F32P = ctypes.POINTER(ctypes.c_float)
_F64P = ctypes.POINTER(ctypes.c_double)
_SIGNATURES = {
    "fewstep_version": ([], ctypes.c_char_p),
    "fewstep_last_error": ([], ctypes.c_char_p),
    "fewstep_model_load": ([ctypes.c_char_p, ctypes.POINTER(_P)], ctypes.c_int),
    "fewstep_model_load_from_memory": ([ctypes.c_char_p, _SIZE, ctypes.POINTER(_P)], ctypes.c_int),
    "fewstep_model_free": ([_P], None),
    "fewstep_session_new_with": (
        [_P, _U32, _U32, _SIZE, _SIZE, _U32, ctypes.POINTER(_P)],
        ctypes.c_int,
    ),
    "fewstep_session_memory": ([_P, ctypes.POINTER(_SIZE), ctypes.POINTER(_SIZE)], ctypes.c_int),
    "fewstep_session_state_len": ([_P], _SIZE),
    "fewstep_session_cond_len": ([_P], _SIZE),
    "fewstep_session_batch_rows": ([_P], _SIZE),
    "fewstep_session_input_count": ([_P], _SIZE),
    "fewstep_session_input_len": ([_P, _SIZE], _SIZE),
    "fewstep_session_output_count": ([_P], _SIZE),
    "fewstep_session_output_len": ([_P, _SIZE], _SIZE),
    "fewstep_session_run": (
        [_P, ctypes.POINTER(_F32P), ctypes.POINTER(_SIZE), _SIZE,
         ctypes.POINTER(_F32P), ctypes.POINTER(_SIZE), _SIZE],
        ctypes.c_int,
    ),
    "fewstep_session_sample": ([_P, _F32P, _SIZE, _F32P, _SIZE, _F32P, _SIZE], ctypes.c_int),
    "fewstep_session_sample_batch": (
        [_P, _SIZE, _F32P, _SIZE, _F32P, _SIZE, _F32P, _SIZE],
        ctypes.c_int,
    ),
    "fewstep_session_set_sampler": ([_P, _U32, _F32P, _SIZE], ctypes.c_int),
    "fewstep_session_free": ([_P], None),
    "fewstep_forecaster_new_with": (
        [_P, _SIZE, _U32, _U32, ctypes.c_uint64, _SIZE, _U32, ctypes.POINTER(_P)],
        ctypes.c_int,
    ),
    "fewstep_forecaster_memory": (
        [_P, ctypes.POINTER(_SIZE), ctypes.POINTER(_SIZE)],
        ctypes.c_int,
    ),
    "fewstep_forecaster_set_sampler": ([_P, _U32, _F32P, _SIZE], ctypes.c_int),
    "fewstep_forecaster_k": ([_P], _SIZE),
    "fewstep_forecaster_observe": (
        [_P, ctypes.c_double, _F64P, _F32P, _F32P, _SIZE],
        ctypes.c_int,
    ),
    "fewstep_forecaster_predict": ([_P, _F64P, _F32P, _SIZE, ctypes.POINTER(_SIZE)], ctypes.c_int),
    "fewstep_forecaster_free": ([_P], None),
}


def _load():
    global _lib
    with _lib_lock:
        if _lib is None:
            path = library_path()
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                raise OSError(
                    f"cannot load the fewstep library from {path!r} ({e}); build it with "
                    "`cargo build --release --lib` or set FEWSTEP_LIB"
                ) from e
            for name, (args, res) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.argtypes = args
                fn.restype = res
            _lib = lib
    return _lib


def version():
    """The library's version string."""
    return _load().fewstep_version().decode()


def _check(code):
    if code != 0:
        message = _load().fewstep_last_error() or b""
        raise FewstepError(code, message.decode(errors="replace"))


def _enum(table, value, what):
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"{what} {value!r}: expected one of {', '.join(table)}") from None


def _flags(fit_batches):
    return FLAG_FIT_BATCHES if fit_batches else 0


def _f32(a):
    return np.ascontiguousarray(a, dtype=np.float32)


def _ptr(a, kind=_F32P):
    return a.ctypes.data_as(kind)


class _Handle:
    """An owned C handle, freed once (by the C function `{_c}_free`), with a lock around every
    call."""

    #: The prefix of the handle's C functions, e.g. "fewstep_session".
    _c = None

    def __init__(self):
        self._h = None
        self._lock = threading.Lock()

    def _build(self, new, model, backend, precision, args):
        """Calls the C constructor `new(model, *args(backend code, precision code), &handle)`
        holding the model's lock (it must not be closed meanwhile), and owns the handle."""
        codes = _enum(BACKENDS, backend, "backend"), _enum(PRECISIONS, precision, "precision")
        h = _P()
        with model._lock:
            _check(new(model._handle(), *args(*codes), ctypes.byref(h)))
        self._h = h
        return h

    def _handle(self):
        if self._h is None:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._h

    def close(self):
        """Frees the handle now (also done when the object is collected). Idempotent."""
        with self._lock:
            if self._h is not None:
                getattr(_load(), self._c + "_free")(self._h)
                self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_h", None) is not None and _lib is not None:
            getattr(_lib, self._c + "_free")(self._h)
            self._h = None


class Model(_Handle):
    """An ONNX model file with its card: a path, or the file's bytes."""

    _c = "fewstep_model"

    def __init__(self, source):
        super().__init__()
        lib = _load()
        h = _P()
        if isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            _check(lib.fewstep_model_load_from_memory(data, len(data), ctypes.byref(h)))
        else:
            _check(lib.fewstep_model_load(os.fsencode(source), ctypes.byref(h)))
        self._h = h


def _memory(fn, h):
    w, a = _SIZE(), _SIZE()
    _check(fn(h, ctypes.byref(w), ctypes.byref(a)))
    return w.value, a.value


def _set_sampler(fn, h, method, times):
    t = _f32(times).reshape(-1)
    _check(fn(h, _enum(METHODS, method, "method"), _ptr(t), t.size))


class _Sampler(_Handle):
    """What sessions and forecasters share: a sampler to replace and memory to report, through
    the C functions named `{_c}_set_sampler` and `{_c}_memory`."""

    def set_sampler(self, method, times):
        """Replaces the sampler: "euler", "heun" or "midpoint" over the time grid `times`."""
        with self._lock:
            _set_sampler(getattr(_load(), self._c + "_set_sampler"), self._handle(), method, times)

    def memory(self):
        """(weight bytes, activation arena bytes)."""
        with self._lock:
            return _memory(getattr(_load(), self._c + "_memory"), self._handle())


class Session(_Sampler):
    """A model bound to a batch (`batch` rows of its batch axis), a backend and a precision:
    samples with the card's sampler (`Session::sample` of the Rust API)."""

    _c = "fewstep_session"

    def __init__(self, model, batch=1, backend="auto", precision="f32", threads=1, fit_batches=False):
        super().__init__()
        lib = _load()
        h = self._build(
            lib.fewstep_session_new_with, model, backend, precision,
            lambda b, p: (b, p, batch, threads, _flags(fit_batches)),
        )
        self.state_len = lib.fewstep_session_state_len(h)
        self.cond_len = lib.fewstep_session_cond_len(h)
        self.batch_rows = lib.fewstep_session_batch_rows(h)
        #: Floats of each graph input and output (in graph order) at the session's dimensions.
        self.input_lens = [
            lib.fewstep_session_input_len(h, i) for i in range(lib.fewstep_session_input_count(h))
        ]
        self.output_lens = [
            lib.fewstep_session_output_len(h, i) for i in range(lib.fewstep_session_output_count(h))
        ]

    def run(self, *inputs):
        """One forward pass of the graph (no card needed): the inputs in graph order, any
        shapes holding `input_lens` floats each; returns the outputs as flat float32 arrays."""
        ins = [_f32(x).reshape(-1) for x in inputs]
        outs = [np.empty(n, dtype=np.float32) for n in self.output_lens]
        in_ptrs = (_F32P * max(len(ins), 1))(*[_ptr(x) for x in ins])
        in_lens = (_SIZE * max(len(ins), 1))(*[x.size for x in ins])
        out_ptrs = (_F32P * max(len(outs), 1))(*[_ptr(y) for y in outs])
        out_lens = (_SIZE * max(len(outs), 1))(*[y.size for y in outs])
        with self._lock:
            _check(
                _load().fewstep_session_run(
                    self._handle(), in_ptrs, in_lens, len(ins), out_ptrs, out_lens, len(outs)
                )
            )
        return outs

    def sample(self, cond, noise, rows=None):
        """The sample for `noise` (the state at the grid's first time) given `cond`, as a new
        float32 array shaped like `noise`. With `rows`, only the first `rows` rows of the batch
        (`cond` and `noise` then hold just those rows). `cond` may be None for a model without
        a condition."""
        c = _f32(np.zeros(0) if cond is None else cond)
        z = _f32(noise)
        out = np.empty_like(z)
        lib = _load()
        with self._lock:
            h = self._handle()
            if rows is None:
                code = lib.fewstep_session_sample(
                    h, _ptr(c), c.size, _ptr(z), z.size, _ptr(out), out.size
                )
            else:
                code = lib.fewstep_session_sample_batch(
                    h, rows, _ptr(c), c.size, _ptr(z), z.size, _ptr(out), out.size
                )
            _check(code)
        return out



class Forecaster(_Sampler):
    """The streaming trajectory forecaster: `observe` each frame's agents, `predict` the K
    futures of every agent observed in the last 8 consecutive frames."""

    _c = "fewstep_forecaster"

    def __init__(self, model, max_agents=64, backend="auto", precision="f32", seed=0, threads=1, fit_batches=True):
        super().__init__()
        lib = _load()
        h = self._build(
            lib.fewstep_forecaster_new_with, model, backend, precision,
            lambda b, p: (max_agents, b, p, seed, threads, _flags(fit_batches)),
        )
        self.max_agents = max_agents
        self.k = lib.fewstep_forecaster_k(h)
        self._ids = np.empty(max_agents, dtype=np.float64)
        self._futures = np.empty((max_agents, self.k, PRED, 2), dtype=np.float32)

    def observe(self, frame, agents, xy):
        """Records one frame: agent ids (n,) and their positions (n, 2). Frame ids must
        increase. A refused frame (`FewstepError`) leaves the forecaster as it was."""
        ids = np.ascontiguousarray(agents, dtype=np.float64).reshape(-1)
        p = _f32(xy).reshape(-1, 2)
        if p.shape[0] != ids.size:
            raise ValueError(f"{ids.size} agent ids but {p.shape[0]} positions")
        xs, ys = _f32(p[:, 0]), _f32(p[:, 1])
        with self._lock:
            _check(
                _load().fewstep_forecaster_observe(
                    self._handle(), frame, _ptr(ids, _F64P), _ptr(xs), _ptr(ys), ids.size
                )
            )

    def predict(self):
        """(ids (n,) float64, futures (n, K, 12, 2) float32): every ready agent of the latest
        frame, as new arrays."""
        n = _SIZE()
        with self._lock:
            _check(
                _load().fewstep_forecaster_predict(
                    self._handle(),
                    _ptr(self._ids, _F64P),
                    _ptr(self._futures),
                    self.max_agents,
                    ctypes.byref(n),
                )
            )
            return self._ids[: n.value].copy(), self._futures[: n.value].copy()

