//! fewstep-display: live trajectory forecasts on a 320×240 RGB565 panel, the way device
//! firmware draws them (embedded-graphics on a framebuffer of its own), with the frames written
//! as PNG instead of sent over SPI. The binary `fewstep-display` is a thin CLI over [`app::run`].

#![forbid(unsafe_code)]

pub mod app;
pub mod error;
pub mod framebuffer;
pub mod image;
pub mod scene_draw;
pub mod tracks;
pub mod view;

pub use error::Error;
