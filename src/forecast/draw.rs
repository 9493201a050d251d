//! A tiny raster canvas for forecast pictures (observed tracks and K futures per agent),
//! written as PNG. Lines are drawn with per-pixel alpha blending; no fonts, no dependencies
//! beyond the PNG encoder.

#[cfg(feature = "png")]
use std::path::Path;

use super::Point;
#[cfg(feature = "png")]
use crate::error::Error;

/// An RGB image with a world → pixel mapping (y up, equal scale on both axes).
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    rgb: Vec<u8>,
    origin: Point,
    scale: f32,
}

/// A colour per agent, cycling through a qualitative palette.
pub fn palette(i: usize) -> [u8; 3] {
    const P: [[u8; 3]; 8] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [23, 190, 207],
    ];
    P[i % P.len()]
}

impl Canvas {
    /// A white canvas showing the world box spanned by `points` (with a 5 % margin).
    pub fn fitting(width: usize, height: usize, points: impl Iterator<Item = Point>) -> Canvas {
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for p in points {
            for d in 0..2 {
                lo[d] = lo[d].min(p[d]);
                hi[d] = hi[d].max(p[d]);
            }
        }
        if !lo[0].is_finite() {
            (lo, hi) = ([0.0; 2], [1.0; 2]);
        }
        let span = [(hi[0] - lo[0]).max(1e-3), (hi[1] - lo[1]).max(1e-3)];
        let scale = ((width as f32 * 0.9) / span[0]).min((height as f32 * 0.9) / span[1]);
        let centre = [(lo[0] + hi[0]) / 2.0, (lo[1] + hi[1]) / 2.0];
        let origin = [
            centre[0] - width as f32 / 2.0 / scale,
            centre[1] - height as f32 / 2.0 / scale,
        ];
        Canvas {
            width,
            height,
            rgb: vec![255; width * height * 3],
            origin,
            scale,
        }
    }

    fn to_px(&self, p: Point) -> (f32, f32) {
        (
            (p[0] - self.origin[0]) * self.scale,
            self.height as f32 - (p[1] - self.origin[1]) * self.scale,
        )
    }

    fn blend(&mut self, x: i64, y: i64, c: [u8; 3], alpha: f32) {
        if x < 0 || y < 0 || x >= self.width as i64 || y >= self.height as i64 {
            return;
        }
        let i = (y as usize * self.width + x as usize) * 3;
        for (d, &cc) in c.iter().enumerate() {
            let v = self.rgb[i + d] as f32 * (1.0 - alpha) + cc as f32 * alpha;
            self.rgb[i + d] = v.round().clamp(0.0, 255.0) as u8;
        }
    }

    /// A line of `thickness` pixels between two world points.
    pub fn line(&mut self, a: Point, b: Point, c: [u8; 3], alpha: f32, thickness: f32) {
        let (x0, y0) = self.to_px(a);
        let (x1, y1) = self.to_px(b);
        let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as usize)
            .clamp(1, 4 * (self.width + self.height));
        let r = (thickness / 2.0).max(0.5);
        let ri = r.ceil() as i64;
        let mut last = (i64::MIN, i64::MIN);
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            let (x, y) = (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
            let (cx, cy) = (x.round() as i64, y.round() as i64);
            if (cx, cy) == last {
                continue;
            }
            last = (cx, cy);
            for dy in -ri..=ri {
                for dx in -ri..=ri {
                    if ((dx * dx + dy * dy) as f32) <= r * r {
                        self.blend(cx + dx, cy + dy, c, alpha);
                    }
                }
            }
        }
    }

    /// A polyline through world points.
    pub fn polyline(&mut self, pts: &[Point], c: [u8; 3], alpha: f32, thickness: f32) {
        for w in pts.windows(2) {
            self.line(w[0], w[1], c, alpha, thickness);
        }
    }

    /// A filled disc of `radius` pixels at a world point.
    pub fn dot(&mut self, p: Point, c: [u8; 3], radius: f32) {
        self.line(p, p, c, 1.0, 2.0 * radius);
    }

    /// Writes the canvas as an 8-bit RGB PNG; written whole or not at all (feature `png`).
    #[cfg(feature = "png")]
    pub fn save_png(&self, path: &Path) -> Result<(), Error> {
        let io = Error::writing(path);
        let tmp = path.with_extension("png.tmp");
        let file = std::fs::File::create(&tmp).map_err(io)?;
        let mut enc = png::Encoder::new(
            std::io::BufWriter::new(file),
            self.width as u32,
            self.height as u32,
        );
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| io(std::io::Error::other(e)))?;
        w.write_image_data(&self.rgb)
            .map_err(|e| io(std::io::Error::other(e)))?;
        w.finish().map_err(|e| io(std::io::Error::other(e)))?;
        std::fs::rename(&tmp, path).map_err(io)
    }
}
