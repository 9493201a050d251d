//! fewstep-distill as a library: data pipeline (and, to come, training and export), so that
//! the binary, tests and examples share it.

pub mod data;
