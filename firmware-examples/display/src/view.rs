//! World → screen: one fixed affine map, computed once per scene.
//!
//! Contract: [`View::fit`] maps the bounding box of the given world points into the viewport
//! rectangle with the same scale on both axes (aspect ratio kept), centred, world y up = screen
//! y up. Points outside the box map outside the viewport (the framebuffer clips them);
//! [`View::to_screen`] clamps far-away points to a band around the panel so that lines to them
//! stay cheap to rasterize.

use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

/// How far off the panel (in pixels) a mapped point may land before it is clamped.
const CLAMP: f32 = 2048.0;

/// See the module docs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    /// Pixels per world unit.
    pub scale: f32,
    centre_world: [f32; 2],
    centre_screen: [f32; 2],
}

impl View {
    /// Fits the bounding box of `points` into `viewport` (see the module docs). An empty or
    /// degenerate box is given a span of at least 1e-3 world units per axis.
    pub fn fit(points: impl IntoIterator<Item = [f32; 2]>, viewport: Rectangle) -> View {
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for p in points {
            for d in 0..2 {
                if p[d].is_finite() {
                    lo[d] = lo[d].min(p[d]);
                    hi[d] = hi[d].max(p[d]);
                }
            }
        }
        for d in 0..2 {
            if lo[d] > hi[d] {
                (lo[d], hi[d]) = (0.0, 1.0);
            }
        }
        let span = [(hi[0] - lo[0]).max(1e-3), (hi[1] - lo[1]).max(1e-3)];
        // pixel centres run from top_left to top_left + size - 1
        let w = viewport.size.width.saturating_sub(1).max(1) as f32;
        let h = viewport.size.height.saturating_sub(1).max(1) as f32;
        let scale = (w / span[0]).min(h / span[1]);
        View {
            scale,
            centre_world: [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0],
            centre_screen: [
                viewport.top_left.x as f32 + w / 2.0,
                viewport.top_left.y as f32 + h / 2.0,
            ],
        }
    }

    /// The pixel nearest to world point `p` (clamped, see the module docs).
    pub fn to_screen(&self, p: [f32; 2]) -> Point {
        let x = self.centre_screen[0] + (p[0] - self.centre_world[0]) * self.scale;
        let y = self.centre_screen[1] - (p[1] - self.centre_world[1]) * self.scale;
        let clamp = |v: f32| {
            if v.is_nan() {
                -CLAMP
            } else {
                v.clamp(-CLAMP, CLAMP)
            }
        };
        Point::new(clamp(x).round() as i32, clamp(y).round() as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_keeps_aspect_ratio_and_flips_y() {
        let vp = Rectangle::new(Point::new(10, 20), Size::new(201, 101));
        // a 4 x 1 world box: width limits the scale (200 px / 4 = 50 px per unit)
        let v = View::fit([[0.0, 0.0], [4.0, 1.0]], vp);
        assert_eq!(v.scale, 50.0);
        assert_eq!(v.to_screen([0.0, 0.5]), Point::new(10, 70));
        assert_eq!(v.to_screen([4.0, 0.5]), Point::new(210, 70));
        // y up in the world is up on the screen, with the same scale
        assert_eq!(v.to_screen([2.0, 1.0]), Point::new(110, 45));
        assert_eq!(v.to_screen([2.0, 0.0]), Point::new(110, 95));
        // far-away points are clamped
        assert_eq!(v.to_screen([1e9, -1e9]), Point::new(2048, 2048));
    }
}
