//! fewstep-distill as a library: data pipeline, the trajectory network (candle), its ONNX
//! export, and teacher training, so that the binary, tests and examples share them.

pub mod choose;
pub mod data;
pub mod eval;
pub mod export;
pub mod fit;
pub mod import;
pub mod model;
pub mod model_file;
pub mod optim;
pub mod ot;
pub mod samples;
pub mod students;
pub mod toy;
pub mod train;
