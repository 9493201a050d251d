//! A 320×240 RGB565 framebuffer: the memory a panel driver would DMA to the display.
//!
//! Contract:
//! - pixels are stored row-major, one `u16` each in RGB565 (5 bits red in the high bits, 6 green,
//!   5 blue), exactly the word a typical SPI/parallel TFT controller takes;
//! - the buffer is allocated once by [`Framebuffer::new`]; drawing never allocates;
//! - as an embedded-graphics [`DrawTarget`], pixels outside `0..WIDTH × 0..HEIGHT` are silently
//!   dropped (clipped) and in-bounds pixels are written as given; drawing cannot fail.

use core::convert::Infallible;

use embedded_graphics::pixelcolor::raw::RawU16;
use embedded_graphics::pixelcolor::{Rgb565, Rgb888};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::Rectangle;

/// Panel width in pixels.
pub const WIDTH: usize = 320;
/// Panel height in pixels.
pub const HEIGHT: usize = 240;

/// See the module docs.
#[derive(Clone)]
pub struct Framebuffer {
    pixels: Box<[u16; WIDTH * HEIGHT]>,
}

impl Default for Framebuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for Framebuffer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Framebuffer({WIDTH}x{HEIGHT} RGB565)")
    }
}

impl Framebuffer {
    /// A black framebuffer (all pixels 0).
    pub fn new() -> Self {
        let pixels: Box<[u16; WIDTH * HEIGHT]> = vec![0u16; WIDTH * HEIGHT]
            .into_boxed_slice()
            .try_into()
            .expect("length is WIDTH * HEIGHT");
        Framebuffer { pixels }
    }

    /// The raw RGB565 words, row-major.
    pub fn raw(&self) -> &[u16] {
        &self.pixels[..]
    }

    /// The colour at `(x, y)`, or `None` outside the panel.
    pub fn pixel(&self, x: i32, y: i32) -> Option<Rgb565> {
        index(x, y).map(|i| Rgb565::from(RawU16::new(self.pixels[i])))
    }

    /// Writes the frame as packed 8-bit RGB (`WIDTH * HEIGHT * 3` bytes) into `out`, expanding
    /// each channel with [`rgb565_to_rgb888`].
    ///
    /// # Panics
    /// If `out` is not exactly `WIDTH * HEIGHT * 3` bytes long (a programming error).
    pub fn to_rgb888(&self, out: &mut [u8]) {
        assert_eq!(out.len(), WIDTH * HEIGHT * 3, "RGB888 buffer length");
        for (px, dst) in self.pixels.iter().zip(out.chunks_exact_mut(3)) {
            dst.copy_from_slice(&rgb565_to_rgb888(Rgb565::from(RawU16::new(*px))));
        }
    }
}

/// The buffer index of `(x, y)`, or `None` when outside the panel.
fn index(x: i32, y: i32) -> Option<usize> {
    let (x, y) = (usize::try_from(x).ok()?, usize::try_from(y).ok()?);
    (x < WIDTH && y < HEIGHT).then_some(y * WIDTH + x)
}

/// Expands an RGB565 colour to 8 bits per channel by bit replication
/// (`r8 = r5 << 3 | r5 >> 2`, `g8 = g6 << 2 | g6 >> 4`): 0 maps to 0 and full scale to 255
/// exactly, and the mapping is monotonic.
pub fn rgb565_to_rgb888(c: Rgb565) -> [u8; 3] {
    let (r, g, b) = (c.r(), c.g(), c.b());
    [
        (r << 3) | (r >> 2),
        (g << 2) | (g >> 4),
        (b << 3) | (b >> 2),
    ]
}

/// Truncates an 8-bit-per-channel colour (e.g. from `fewstep::forecast::draw::palette`) to
/// RGB565.
pub fn rgb888_to_rgb565(c: [u8; 3]) -> Rgb565 {
    Rgb888::new(c[0], c[1], c[2]).into()
}

impl OriginDimensions for Framebuffer {
    fn size(&self) -> Size {
        Size::new(WIDTH as u32, HEIGHT as u32)
    }
}

impl DrawTarget for Framebuffer {
    type Color = Rgb565;
    type Error = Infallible;

    /// Writes each in-bounds pixel; out-of-bounds pixels are dropped.
    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        for Pixel(p, color) in pixels {
            if let Some(i) = index(p.x, p.y) {
                self.pixels[i] = color.into_storage();
            }
        }
        Ok(())
    }

    /// Fast path: fills the part of `area` that lies on the panel, row by row.
    fn fill_solid(&mut self, area: &Rectangle, color: Self::Color) -> Result<(), Self::Error> {
        let area = area.intersection(&self.bounding_box());
        let Some(br) = area.bottom_right() else {
            return Ok(()); // empty
        };
        let raw = color.into_storage();
        let (x0, x1) = (area.top_left.x as usize, br.x as usize);
        for y in area.top_left.y as usize..=br.y as usize {
            self.pixels[y * WIDTH + x0..=y * WIDTH + x1].fill(raw);
        }
        Ok(())
    }

    fn clear(&mut self, color: Self::Color) -> Result<(), Self::Error> {
        self.pixels.fill(color.into_storage());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draw_iter_clips_out_of_bounds_and_writes_in_bounds() {
        let mut fb = Framebuffer::new();
        let red = Rgb565::RED;
        let pixels = [
            Pixel(Point::new(0, 0), red),
            Pixel(Point::new(319, 239), Rgb565::GREEN),
            Pixel(Point::new(5, 7), Rgb565::BLUE),
            // all of these are off the panel
            Pixel(Point::new(-1, 0), red),
            Pixel(Point::new(0, -1), red),
            Pixel(Point::new(320, 0), red),
            Pixel(Point::new(0, 240), red),
            Pixel(Point::new(i32::MAX, i32::MIN), red),
        ];
        fb.draw_iter(pixels).unwrap();
        assert_eq!(fb.pixel(0, 0), Some(red));
        assert_eq!(fb.pixel(319, 239), Some(Rgb565::GREEN));
        assert_eq!(fb.pixel(5, 7), Some(Rgb565::BLUE));
        assert_eq!(fb.pixel(320, 0), None);
        assert_eq!(fb.raw()[7 * WIDTH + 5], Rgb565::BLUE.into_storage());
        // exactly three words changed: nothing wrapped onto another row
        assert_eq!(fb.raw().iter().filter(|&&w| w != 0).count(), 3);
        assert_eq!(fb.raw()[WIDTH - 1], 0, "(-1, 1) or (320, 0) must not wrap");
        assert_eq!(fb.raw()[WIDTH], 0);
    }

    #[test]
    fn fill_solid_clips_to_the_panel() {
        let mut fb = Framebuffer::new();
        let area = Rectangle::new(Point::new(-10, 230), Size::new(15, 100));
        fb.fill_solid(&area, Rgb565::WHITE).unwrap();
        for y in 0..HEIGHT as i32 {
            for x in 0..WIDTH as i32 {
                let inside = x <= 4 && y >= 230;
                let want = if inside { Rgb565::WHITE } else { Rgb565::BLACK };
                assert_eq!(fb.pixel(x, y), Some(want), "({x}, {y})");
            }
        }
        // entirely off the panel: nothing happens
        fb.fill_solid(
            &Rectangle::new(Point::new(400, 0), Size::new(5, 5)),
            Rgb565::RED,
        )
        .unwrap();
        assert_eq!(fb.raw().iter().filter(|&&w| w != 0).count(), 5 * 10);
    }

    #[test]
    fn rgb565_to_rgb888_is_exact_at_full_scale() {
        assert_eq!(rgb565_to_rgb888(Rgb565::WHITE), [255, 255, 255]);
        assert_eq!(rgb565_to_rgb888(Rgb565::RED), [255, 0, 0]);
        assert_eq!(rgb565_to_rgb888(Rgb565::GREEN), [0, 255, 0]);
        assert_eq!(rgb565_to_rgb888(Rgb565::BLUE), [0, 0, 255]);
        assert_eq!(rgb565_to_rgb888(Rgb565::BLACK), [0, 0, 0]);
        // and through the framebuffer's bulk conversion
        let mut fb = Framebuffer::new();
        fb.clear(Rgb565::WHITE).unwrap();
        let mut rgb = vec![0u8; WIDTH * HEIGHT * 3];
        fb.to_rgb888(&mut rgb);
        assert!(rgb.iter().all(|&v| v == 255));
    }

    #[test]
    fn rgb888_round_trips_through_rgb565_within_truncation() {
        for c in [[31u8, 119, 180], [255, 127, 14], [0, 0, 0], [255, 255, 255]] {
            let back = rgb565_to_rgb888(rgb888_to_rgb565(c));
            for d in 0..3 {
                assert!(back[d].abs_diff(c[d]) <= 7, "{c:?} -> {back:?}");
            }
        }
    }
}
