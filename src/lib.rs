//! fewstep: run few-step flow-model students on small devices, with no heap allocation on the
//! hot path.
//!
//! ```no_run
//! use fewstep::{Model, Session, SessionOptions};
//! let model = Model::load("models/toy-velocity.onnx")?;
//! let mut opts = SessionOptions::default();
//! opts.dims.insert("N".into(), 20);
//! let mut s = Session::new(&model, opts)?;
//! let (cond, noise) = (vec![0.0; s.cond_len()], vec![0.0; s.state_len()]);
//! let mut out = vec![0.0; s.state_len()];
//! s.sample(&cond, &noise, &mut out)?; // allocation-free after construction
//! # Ok::<(), fewstep::Error>(())
//! ```

pub mod alloc_count;
mod buffers;
pub mod card;
pub mod cpu;
pub mod error;
pub mod ffi;
pub mod forecast;
pub mod fuzz;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod ir;
pub mod model;
pub mod native;
pub mod npy;
pub mod onnx;
pub mod plan;
mod pool;
pub mod rng;
pub mod sampler;
pub mod session;
pub mod testing;
pub mod tract;

pub use card::Card;
pub use error::Error;
pub use model::Model;
pub use session::{Backend, GpuF16Mode, Precision, Session, SessionInfo, SessionOptions};

/// The crate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
