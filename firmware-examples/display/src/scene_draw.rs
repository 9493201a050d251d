//! Drawing one frame of forecasts on the framebuffer with embedded-graphics.
//!
//! Contract of [`draw_frame`]: it redraws the whole framebuffer (background first), never
//! allocates, and draws, bottom to top: every forecast agent's K futures (1-px lines from its
//! current position, its colour dimmed), every agent's observed track (2-px polyline, full
//! colour), a dot at each current position, and the HUD text line at the top.

use core::fmt::Write;

use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::iso_8859_1::FONT_6X10;
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, Polyline, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Baseline, Text};
use fewstep::forecast::draw::palette;
use fewstep::forecast::{Forecasts, PRED};

use crate::framebuffer::{Framebuffer, HEIGHT, WIDTH, rgb888_to_rgb565};
use crate::tracks::{TRACK_LEN, Tracks};
use crate::view::View;

/// Background colour (RGB888 before conversion).
const BACKGROUND: [u8; 3] = [12, 14, 22];
const HUD_COLOUR: [u8; 3] = [220, 220, 220];
/// How much of the agent colour the futures keep (the rest is background).
const FUTURE_MIX: f32 = 0.55;
/// Height of the HUD strip; the scene is drawn below it.
pub const HUD_HEIGHT: u32 = 12;

/// The part of the panel the scene is fitted into: below the HUD, with a small margin.
pub fn scene_viewport() -> Rectangle {
    let margin = 6;
    Rectangle::new(
        Point::new(margin, HUD_HEIGHT as i32 + 2),
        Size::new(
            WIDTH as u32 - 2 * margin as u32,
            HEIGHT as u32 - HUD_HEIGHT - 2 - margin as u32,
        ),
    )
}

/// What the HUD line says.
#[derive(Debug, Clone, Copy)]
pub struct Hud {
    /// Position of this frame in the stream (0-based).
    pub index: usize,
    /// The scene's frame id.
    pub frame_id: f64,
    /// Agents in view.
    pub agents: usize,
    /// Agents forecast.
    pub forecast: usize,
    /// observe + predict latency of this frame.
    pub micros: f64,
}

/// A stable colour per agent id (the fewstep palette, cycled by id).
pub fn agent_rgb(agent: f64) -> [u8; 3] {
    palette(agent.abs() as u64 as usize)
}

fn mix(c: [u8; 3], t: f32) -> [u8; 3] {
    let m = |a: u8, b: u8| (a as f32 * t + b as f32 * (1.0 - t)).round() as u8;
    [
        m(c[0], BACKGROUND[0]),
        m(c[1], BACKGROUND[1]),
        m(c[2], BACKGROUND[2]),
    ]
}

/// See the module docs. `forecasts` is the output of the latest `predict`, `tracks` the
/// positions observed up to the same frame.
pub fn draw_frame(
    fb: &mut Framebuffer,
    view: &View,
    tracks: &Tracks,
    forecasts: &Forecasts,
    hud: &Hud,
) {
    let Ok(()) = fb.clear(rgb888_to_rgb565(BACKGROUND));

    for i in 0..forecasts.len() {
        let agent = forecasts.agent(i);
        let Some(&now) = tracks.get(agent).and_then(|t| t.last()) else {
            continue;
        };
        let style =
            PrimitiveStyle::with_stroke(rgb888_to_rgb565(mix(agent_rgb(agent), FUTURE_MIX)), 1);
        let mut pts = [Point::zero(); PRED + 1];
        pts[0] = view.to_screen(now);
        for future in forecasts.futures(i) {
            for (dst, &p) in pts[1..].iter_mut().zip(future) {
                *dst = view.to_screen(p);
            }
            let Ok(()) = Polyline::new(&pts).into_styled(style).draw(fb);
        }
    }

    for (agent, track) in tracks.current() {
        let colour = rgb888_to_rgb565(agent_rgb(agent));
        let mut pts = [Point::zero(); TRACK_LEN];
        for (dst, &p) in pts.iter_mut().zip(track) {
            *dst = view.to_screen(p);
        }
        let pts = &pts[..track.len()];
        if pts.len() > 1 {
            let Ok(()) = Polyline::new(pts)
                .into_styled(PrimitiveStyle::with_stroke(colour, 2))
                .draw(fb);
        }
        if let Some(&now) = pts.last() {
            let Ok(()) = Circle::with_center(now, 5)
                .into_styled(PrimitiveStyle::with_fill(colour))
                .draw(fb);
        }
    }

    let mut line = StackText::<64>::new();
    // a full StackText truncates; the HUD is well under 64 bytes
    let _ = write!(
        line,
        "frame {} (id {})  agents {}  fc {}  {:.0} \u{b5}s",
        hud.index, hud.frame_id, hud.agents, hud.forecast, hud.micros
    );
    let style = MonoTextStyle::new(&FONT_6X10, rgb888_to_rgb565(HUD_COLOUR));
    let Ok(_) = Text::with_baseline(line.as_str(), Point::new(4, 1), style, Baseline::Top).draw(fb);
}

/// A fixed-capacity UTF-8 string for formatting without allocation; text past the capacity is
/// dropped at a character boundary.
struct StackText<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackText<N> {
    fn new() -> Self {
        StackText {
            buf: [0; N],
            len: 0,
        }
    }

    fn as_str(&self) -> &str {
        // only whole characters are ever copied in
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }
}

impl<const N: usize> Write for StackText<N> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for c in s.chars() {
            let n = c.len_utf8();
            if self.len + n > N {
                return Err(core::fmt::Error);
            }
            c.encode_utf8(&mut self.buf[self.len..self.len + n]);
            self.len += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stack_text_truncates_at_a_character_boundary() {
        let mut t = StackText::<4>::new();
        assert!(write!(t, "ab\u{b5}c").is_err());
        assert_eq!(t.as_str(), "ab\u{b5}");
    }

    #[test]
    fn viewport_lies_below_the_hud_and_on_the_panel() {
        let vp = scene_viewport();
        let br = vp.bottom_right().unwrap();
        assert!(vp.top_left.y >= HUD_HEIGHT as i32);
        assert!(vp.top_left.x > 0 && br.x < WIDTH as i32 - 1 && br.y < HEIGHT as i32 - 1);
    }
}
