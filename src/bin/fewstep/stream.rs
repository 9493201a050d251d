//! `fewstep stream`: forecasts frames as they arrive on standard input (or a file), one JSON
//! line per frame on standard output, flushed at once: the forecaster behind a pipe, for a
//! tracker in another process or language.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::Instant;

use fewstep::forecast::frames::FrameReader;
use fewstep::forecast::{PRED, Point};
use fewstep::{Error, Model, SessionOptions};
use serde::Serialize;

use super::{SamplerFlags, forecaster, percentile};

/// What `fewstep stream` reads and how it samples.
pub(crate) struct StreamArgs<'a> {
    pub model: &'a Path,
    /// `-` for standard input.
    pub input: &'a Path,
    pub max_agents: usize,
    pub session: SessionOptions,
    pub seed: u64,
    pub flags: SamplerFlags,
}

/// One frame's answer, a line of output. Coordinates are written as f32 (the shortest text
/// that reads back as the same f32).
#[derive(Serialize)]
#[serde(untagged)]
enum Answer<'a> {
    Forecasts {
        frame: f64,
        agents: Vec<Agent<'a>>,
        us: f64,
    },
    Refused {
        frame: f64,
        error: String,
    },
}

#[derive(Serialize)]
struct Agent<'a> {
    id: f64,
    futures: &'a [[Point; PRED]],
}

/// Runs the stream to the end of its input. Every complete frame gets one line on standard
/// output: `{"frame", "agents": [{"id", "futures"}], "us"}`, or `{"frame", "error"}` when the
/// forecaster refused it (the forecaster is then as it was before that frame). A line that is
/// not `frame agent x y` is reported on standard error and skipped. Either makes the command
/// fail at the end, after every frame; an I/O error ends it at once.
pub(crate) fn stream(a: StreamArgs) -> Result<(), Error> {
    let model = Model::load(a.model)?;
    let mut f = forecaster(&model, a.max_agents, &a.session, a.seed, a.flags)?;
    let mut out = f.new_output();
    let stdin = std::io::stdin();
    let (reader, source): (Box<dyn BufRead>, String) = if a.input == Path::new("-") {
        (Box::new(stdin.lock()), "stdin".into())
    } else {
        let file = std::fs::File::open(a.input).map_err(|source| Error::Io {
            path: a.input.display().to_string(),
            source,
        })?;
        (
            Box::new(std::io::BufReader::new(file)),
            a.input.display().to_string(),
        )
    };
    eprintln!(
        "{}: forecasting up to {} agents per frame ({:?} backend, {} futures each) from {source}; \
         a frame ends at the next frame's first line, a blank line, or the end",
        a.model.display(),
        a.max_agents,
        f.session().info().backend,
        out.k()
    );
    let mut frames = FrameReader::new(reader, &source).max_rows(a.max_agents);
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    let mut obs = Vec::with_capacity(a.max_agents);
    let (mut bad_lines, mut refused, mut forecasts, mut busy) = (0usize, 0usize, 0usize, 0usize);
    let mut closed = false;
    let mut us = Vec::new();
    for item in frames.by_ref() {
        let fr = match item {
            Ok(fr) => fr,
            Err(e @ Error::Io { .. }) => return Err(e),
            Err(e) => {
                eprintln!("error: {e} (line skipped)");
                bad_lines += 1;
                continue;
            }
        };
        obs.clear();
        obs.extend(fr.rows.iter().map(|r| (r.agent, r.x, r.y)));
        let t = Instant::now();
        let done = f.observe(fr.frame, &obs).and_then(|()| f.predict(&mut out));
        let micros = t.elapsed().as_secs_f64() * 1e6;
        let line = match done {
            Ok(n) => {
                us.push(micros);
                forecasts += n;
                busy += usize::from(n > 0);
                let agents = (0..n)
                    .map(|i| Agent {
                        id: out.agent(i),
                        futures: out.futures(i),
                    })
                    .collect();
                Answer::Forecasts {
                    frame: fr.frame,
                    agents,
                    us: (micros * 10.0).round() / 10.0,
                }
            }
            Err(e) => {
                eprintln!("error: frame {}: {e}", fr.frame);
                refused += 1;
                Answer::Refused {
                    frame: fr.frame,
                    error: e.to_string(),
                }
            }
        };
        let written = serde_json::to_writer(&mut w, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| w.write_all(b"\n"))
            .and_then(|()| w.flush());
        if let Err(e) = written.map_err(super::stdout_failed) {
            // the reader went away (`| head`, a closed socket): stop, saying so below
            if !super::reader_left(&e) {
                return Err(e);
            }
            closed = true;
            break;
        }
    }
    us.sort_by(f64::total_cmp);
    let timing = if us.is_empty() {
        String::new()
    } else {
        format!(
            "; observe + predict per answered frame: median {:.1} µs, p99 {:.1} µs",
            percentile(&us, 0.5),
            percentile(&us, 0.99)
        )
    };
    eprintln!(
        "{source}: {} lines, {} frames answered ({busy} with forecasts, {forecasts} agent \
         forecasts), {refused} frames refused, {bad_lines} lines skipped{timing}{}",
        frames.lines_read(),
        us.len(),
        if closed {
            "; standard output was closed, so the stream stopped there"
        } else {
            ""
        }
    );
    if refused + bad_lines > 0 {
        return Err(Error::InvalidInput(
            "some lines or frames were refused (see above)",
        ));
    }
    Ok(())
}
