//! fewstep's error type. Errors on the hot path (`Session::run`) carry only static strings and
//! numbers, so returning them never allocates.

/// Everything that can go wrong in fewstep.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// Writing a file (or standard output) failed.
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    /// The bytes are not a loadable ONNX model (empty, truncated, garbage, or unsupported).
    #[error("not a loadable ONNX model: {0}")]
    BadModel(String),
    /// The card in `metadata_props["fewstep"]` is malformed or disagrees with the graph.
    #[error("bad model card: {0}")]
    BadCard(String),
    /// The chosen backend cannot run this graph: native kernels lack an op, the GPU a feature
    /// or the room, tract a transform (the message names the op or the limit, and why).
    #[error("this backend cannot run this model: {0}")]
    Unsupported(String),
    /// The requested backend is not available (e.g. no GPU adapter).
    #[error("backend unavailable: {0}")]
    BackendUnavailable(String),
    /// An option or argument is invalid (e.g. an unbound symbol).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A caller buffer has the wrong length.
    #[error("{what}: expected {expected} elements, got {got}")]
    WrongLength {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    /// An input contained NaN or infinity (rejected before any work is done), or a sample came
    /// out non-finite (`what` is `"sample"`, or `"forecast"` for world coordinates): the model
    /// or its time grid overflowed f32.
    #[error("{what} contains a non-finite value (NaN or infinity) at index {index}")]
    NonFinite { what: &'static str, index: usize },
    /// The operation needs a model card (e.g. sampling) but the model has none.
    #[error("this model has no fewstep card; `sample` needs one (use `run` for plain inference)")]
    NoCard,
    /// An input breaks the documented contract (non-allocating).
    #[error("invalid input: {0}")]
    InvalidInput(&'static str),
    /// A fixed capacity chosen at construction is exceeded (non-allocating).
    #[error("capacity exceeded: {0}")]
    Capacity(&'static str),
    /// A scene file is malformed (the message names file, line and column).
    #[error("bad scene: {0}")]
    BadScene(String),
    /// The tract fallback failed at run time.
    #[error("tract backend failed at run time")]
    TractRun,
    /// A worker thread of a multi-threaded session panicked while sampling (a bug: please
    /// report it); the session stays usable.
    #[error("a sampling worker thread panicked")]
    WorkerPanic,
    /// The GPU failed at run time (device lost, out of memory, or a validation error).
    #[error("GPU backend failed at run time (device lost, out of memory or validation error)")]
    GpuRun,
}

impl Error {
    /// For `map_err` on a failed write of `path`: an [`Error::Write`] naming it.
    pub fn writing(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + Copy + '_ {
        move |source| Error::Write {
            path: path.display().to_string(),
            source,
        }
    }

    pub(crate) fn bad_model(e: impl std::fmt::Display) -> Self {
        Error::BadModel(format!("{e:#}"))
    }
}
