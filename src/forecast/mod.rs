//! Trajectory forecasting: scene files (whole, or frame by frame as they arrive), standard
//! windows, the trajectory features (the one implementation that `fewstep-distill` trains with
//! and the device runs with), and the minADE/minFDE metrics.
//!
//! The protocol is ETH-UCY's: 8 observed positions, 12 predicted, one window per 20
//! consecutive distinct frames (stride 1).

pub mod draw;
pub mod eval;
pub mod features;
pub mod forecaster;
pub mod frames;
pub mod metrics;
pub mod scene;
pub mod windows;

/// Observed positions per window.
pub const OBS: usize = 8;
/// Predicted positions per window.
pub const PRED: usize = 12;
/// Window length.
pub const SEQ: usize = OBS + PRED;

/// A 2-D point in metres (or the scene file's units).
pub type Point = [f32; 2];

pub use forecaster::{Forecaster, ForecasterOptions, Forecasts};
