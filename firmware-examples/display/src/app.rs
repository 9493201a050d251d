//! The firmware loop: scene rows in, forecasts drawn on the framebuffer, frames out as PNG.
//!
//! Contract of [`run`]: for each of the first `frames` frames of the scene it observes the
//! frame's positions, predicts (timed together), and redraws the framebuffer; every
//! `every`-th frame (stream index 0, every, 2·every, ...) is written as
//! `OUT/frame-NNNNN.png` (NNNNN = stream index), and up to 12 of those, spread evenly, are
//! tiled into `OUT/contact-sheet.png`. All buffers are allocated before the loop. Errors
//! name the path or flag at fault; nothing panics on bad input.

use std::path::{Path, PathBuf};
use std::time::Instant;

use fewstep::Model;
use fewstep::forecast::{Forecaster, ForecasterOptions, scene};

use crate::error::Error;
use crate::framebuffer::{Framebuffer, HEIGHT, WIDTH};
use crate::image::{ContactSheet, SHEET_COLS, SHEET_ROWS, pick_tiles, write_png};
use crate::scene_draw::{Hud, draw_frame, scene_viewport};
use crate::tracks::Tracks;
use crate::view::View;

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub model: PathBuf,
    pub scene: PathBuf,
    pub out: PathBuf,
    /// Frames of the scene to stream (from its first), at least 1.
    pub frames: usize,
    /// Write every N-th frame as PNG, at least 1.
    pub every: usize,
    pub seed: u64,
    /// Uniform sampler steps instead of the model card's time grid.
    pub steps: Option<usize>,
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Frames streamed.
    pub frames: usize,
    /// Agent forecasts made over all frames.
    pub forecasts: usize,
    /// Futures per agent.
    pub k: usize,
    /// Mean and max observe + predict latency per frame.
    pub mean_us: f64,
    pub max_us: f64,
    /// The PNG frames written, in order.
    pub pngs: Vec<PathBuf>,
    pub contact_sheet: PathBuf,
}

/// The name of the PNG of stream frame `index`.
pub fn frame_file_name(index: usize) -> String {
    format!("frame-{index:05}.png")
}

/// Sampler steps a run uses: the override, else the card's grid (1 for a generator).
fn steps_in_use(model: &Model, steps: Option<usize>) -> usize {
    steps.unwrap_or_else(|| {
        model
            .card()
            .and_then(|c| c.sampler.as_ref())
            .map_or(1, |s| s.times.len().saturating_sub(1).max(1))
    })
}

/// See the module docs. Prints one line per frame and the summary to stdout.
pub fn run(opts: &Options) -> Result<Summary, Error> {
    if opts.frames == 0 || opts.every == 0 {
        return Err(Error::new("--frames and --every must be at least 1"));
    }
    let model = Model::load(&opts.model)
        .map_err(|e| Error::fewstep(format!("model {}", opts.model.display()), e))?;
    let s = scene::load(&opts.scene)
        .map_err(|e| Error::fewstep(format!("scene {}", opts.scene.display()), e))?;
    let ranges = s.frame_ranges();
    let n = opts.frames.min(ranges.len());
    let max_agents = ranges[..n]
        .iter()
        .map(|r| r.len())
        .max()
        .unwrap_or(1)
        .max(1);
    let mut forecaster = Forecaster::new(
        &model,
        ForecasterOptions {
            max_agents,
            seed: opts.seed,
            ..Default::default()
        },
    )
    .map_err(|e| Error::fewstep(format!("model {}", opts.model.display()), e))?;
    if let Some(steps) = opts.steps {
        forecaster
            .set_steps(steps)
            .map_err(|e| Error::fewstep(format!("--steps {steps}"), e))?;
    }
    let mut out = forecaster.new_output();
    let view = View::fit(s.rows.iter().map(|r| [r.x, r.y]), scene_viewport());
    std::fs::create_dir_all(&opts.out)
        .map_err(|e| Error::new(format!("cannot create {}: {e}", opts.out.display())))?;
    println!(
        "{} on {}: {n} frames, up to {max_agents} agents, K = {}, {} sampler steps, {:?} backend; {:.1} px per unit",
        opts.model.display(),
        opts.scene.display(),
        out.k(),
        steps_in_use(&model, opts.steps),
        forecaster.session().info().backend,
        view.scale
    );

    let written = n.div_ceil(opts.every);
    let tiles = pick_tiles(written, SHEET_COLS * SHEET_ROWS);
    let mut fb = Framebuffer::new();
    let mut tracks = Tracks::with_capacity(max_agents);
    let mut sheet = ContactSheet::new();
    let mut rgb = vec![0u8; WIDTH * HEIGHT * 3];
    let mut obs = Vec::with_capacity(max_agents);
    let mut pngs = Vec::with_capacity(written);
    let (mut total_us, mut max_us, mut forecasts) = (0f64, 0f64, 0usize);

    for (index, r) in ranges[..n].iter().enumerate() {
        let frame_id = s.frames[index];
        obs.clear();
        obs.extend(
            s.rows[r.clone()]
                .iter()
                .map(|row| (row.agent, row.x, row.y)),
        );

        let t = Instant::now();
        forecaster
            .observe(frame_id, &obs)
            .and_then(|()| forecaster.predict(&mut out))
            .map_err(|e| Error::fewstep(format!("frame {frame_id}"), e))?;
        let us = t.elapsed().as_secs_f64() * 1e6;
        total_us += us;
        max_us = max_us.max(us);
        forecasts += out.len();

        tracks.observe(&obs)?;
        let hud = Hud {
            index,
            frame_id,
            agents: obs.len(),
            forecast: out.len(),
            micros: us,
        };
        draw_frame(&mut fb, &view, &tracks, &out, &hud);

        let mut note = String::new();
        if index % opts.every == 0 {
            let path = opts.out.join(frame_file_name(index));
            fb.to_rgb888(&mut rgb);
            write_png(&path, WIDTH, HEIGHT, &rgb)?;
            if let Some(slot) = tiles.iter().position(|&t| t == pngs.len()) {
                sheet.place(slot, &fb);
            }
            note = format!(" -> {}", path.display());
            pngs.push(path);
        }
        println!(
            "frame {index} (id {frame_id}): {} agents, {} forecast, {us:.0} µs{note}",
            obs.len(),
            out.len()
        );
    }

    let contact_sheet = opts.out.join("contact-sheet.png");
    sheet.save(&contact_sheet)?;
    let summary = Summary {
        frames: n,
        forecasts,
        k: out.k(),
        mean_us: total_us / n as f64,
        max_us,
        pngs,
        contact_sheet,
    };
    println!(
        "summary: {} frames, {} agent forecasts (K = {}), observe + predict mean {:.1} µs, max {:.1} µs; {} PNGs and {} ({} tiles)",
        summary.frames,
        summary.forecasts,
        summary.k,
        summary.mean_us,
        summary.max_us,
        summary.pngs.len(),
        summary.contact_sheet.display(),
        tiles.len()
    );
    Ok(summary)
}

/// `rel` if it exists from the current directory, else the same path under the repository
/// root (so the defaults work from any directory of the checkout).
pub fn from_repo_root(rel: &str) -> PathBuf {
    let here = PathBuf::from(rel);
    if here.exists() {
        return here;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel);
    if root.exists() { root } else { here }
}
