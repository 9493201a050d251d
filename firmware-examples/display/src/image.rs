//! Getting frames off the "panel": PNG files and a contact sheet.
//!
//! Contract: PNGs are 8-bit RGB, written to `NAME.tmp` and renamed, so a file at the final path
//! is always complete. The contact sheet is always [`SHEET_WIDTH`]×[`SHEET_HEIGHT`].

use std::path::Path;

use crate::error::Error;
use crate::framebuffer::{Framebuffer, HEIGHT, WIDTH};

/// Tiles across the contact sheet.
pub const SHEET_COLS: usize = 4;
/// Tiles down the contact sheet.
pub const SHEET_ROWS: usize = 3;
/// Contact sheet width: the tiles at full size, edge to edge (1280).
pub const SHEET_WIDTH: usize = SHEET_COLS * WIDTH;
/// Contact sheet height (720).
pub const SHEET_HEIGHT: usize = SHEET_ROWS * HEIGHT;
/// Width of the separator between tiles, in pixels.
pub const GAP: usize = 2;
const GAP_RGB: [u8; 3] = [96, 100, 110];

/// Writes packed 8-bit RGB (`width * height * 3` bytes) as a PNG at `path`.
pub fn write_png(path: &Path, width: usize, height: usize, rgb: &[u8]) -> Result<(), Error> {
    debug_assert_eq!(rgb.len(), width * height * 3);
    let fail =
        |e: &dyn std::fmt::Display| Error::new(format!("cannot write {}: {e}", path.display()));
    let tmp = path.with_extension("png.tmp");
    let file = std::fs::File::create(&tmp).map_err(|e| fail(&e))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), width as u32, height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::High);
    let mut w = enc.write_header().map_err(|e| fail(&e))?;
    w.write_image_data(rgb).map_err(|e| fail(&e))?;
    w.finish().map_err(|e| fail(&e))?;
    std::fs::rename(&tmp, path).map_err(|e| fail(&e))
}

/// Chooses which of `n` frames go on a sheet of `slots` tiles: all of them when they fit,
/// otherwise `slots` indices spread evenly from the first to the last (ascending, distinct).
pub fn pick_tiles(n: usize, slots: usize) -> Vec<usize> {
    if n <= slots {
        return (0..n).collect();
    }
    if slots == 1 {
        return vec![0];
    }
    (0..slots).map(|j| j * (n - 1) / (slots - 1)).collect()
}

/// A [`SHEET_COLS`]×[`SHEET_ROWS`] grid of full-size frames, row-major.
///
/// Tiles sit edge to edge at a 320×240 pitch so the sheet is exactly 1280×720; the
/// [`GAP`]-pixel separators are painted over the seams (the outermost pixel row/column of the
/// neighbouring tiles, which is panel margin). Unused tiles stay the separator colour.
pub struct ContactSheet {
    rgb: Vec<u8>,
    tile: Vec<u8>,
}

impl Default for ContactSheet {
    fn default() -> Self {
        Self::new()
    }
}

impl ContactSheet {
    /// An empty sheet (all separator colour).
    pub fn new() -> Self {
        ContactSheet {
            rgb: GAP_RGB.repeat(SHEET_WIDTH * SHEET_HEIGHT),
            tile: vec![0; WIDTH * HEIGHT * 3],
        }
    }

    /// Copies `fb` into tile `slot` (row-major; ignored when `slot` is off the grid).
    pub fn place(&mut self, slot: usize, fb: &Framebuffer) {
        if slot >= SHEET_COLS * SHEET_ROWS {
            return;
        }
        fb.to_rgb888(&mut self.tile);
        let (x0, y0) = ((slot % SHEET_COLS) * WIDTH, (slot / SHEET_COLS) * HEIGHT);
        for (y, row) in self.tile.chunks_exact(WIDTH * 3).enumerate() {
            let start = ((y0 + y) * SHEET_WIDTH + x0) * 3;
            self.rgb[start..start + WIDTH * 3].copy_from_slice(row);
        }
    }

    /// Paints the separators and writes the sheet as a PNG.
    pub fn save(&mut self, path: &Path) -> Result<(), Error> {
        let half = GAP / 2;
        for c in 1..SHEET_COLS {
            let x = c * WIDTH - half;
            for y in 0..SHEET_HEIGHT {
                for xx in x..x + GAP {
                    self.set(xx, y);
                }
            }
        }
        for r in 1..SHEET_ROWS {
            let y = r * HEIGHT - half;
            for yy in y..y + GAP {
                for x in 0..SHEET_WIDTH {
                    self.set(x, yy);
                }
            }
        }
        write_png(path, SHEET_WIDTH, SHEET_HEIGHT, &self.rgb)
    }

    fn set(&mut self, x: usize, y: usize) {
        let i = (y * SHEET_WIDTH + x) * 3;
        self.rgb[i..i + 3].copy_from_slice(&GAP_RGB);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pick_tiles_spreads_evenly_and_keeps_ends() {
        assert_eq!(pick_tiles(3, 12), vec![0, 1, 2]);
        assert_eq!(pick_tiles(0, 12), Vec::<usize>::new());
        let p = pick_tiles(20, 12);
        assert_eq!(p.len(), 12);
        assert_eq!((p[0], p[11]), (0, 19));
        assert!(p.windows(2).all(|w| w[0] < w[1]));
    }
}
