//! Scene files: whitespace-separated `frame agent x y` rows (tabs or spaces, `\n` or `\r\n`,
//! integer or float ids), as in ETH-UCY. Errors name the line and column.

use std::collections::HashSet;
use std::path::Path;

use crate::error::Error;

/// One observation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub frame: f64,
    pub agent: f64,
    pub x: f32,
    pub y: f32,
}

/// A parsed scene: rows sorted by (frame, agent), and the distinct frames.
#[derive(Debug, Clone, PartialEq)]
pub struct Scene {
    pub rows: Vec<Row>,
    /// Distinct frame ids, ascending.
    pub frames: Vec<f64>,
    /// The most common difference between consecutive frame ids (0 for a single frame).
    pub frame_step: f64,
}

impl Scene {
    /// For each distinct frame, the range of `rows` observed at it.
    pub fn frame_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::with_capacity(self.frames.len());
        let mut start = 0;
        for i in 1..=self.rows.len() {
            if i == self.rows.len() || self.rows[i].frame != self.rows[start].frame {
                out.push(start..i);
                start = i;
            }
        }
        out
    }
}

pub(super) fn err(source: &str, line: usize, col: usize, msg: impl std::fmt::Display) -> Error {
    Error::BadScene(format!("{source}:{line}:{col}: {msg}"))
}

/// Parses one line of scene text: `Ok(None)` for a blank one (spaces, tabs, a `\r` before the
/// line end). `source` and `line_no` name the line in errors, which also give the column. Ids
/// of -0 are read as 0, so that one id never compares both equal and different.
pub fn parse_line(line: &str, source: &str, line_no: usize) -> Result<Option<Row>, Error> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim().is_empty() {
        return Ok(None);
    }
    let mut fields = [0f64; 4];
    let mut count = 0;
    let mut pos = 0;
    for tok in line.split([' ', '\t']) {
        let col = pos + 1;
        pos += tok.len() + 1;
        if tok.is_empty() {
            continue;
        }
        if count == 4 {
            return Err(err(
                source,
                line_no,
                col,
                format!("unexpected fifth field {tok:?} (expected `frame agent x y`)"),
            ));
        }
        let v: f64 = tok
            .parse()
            .map_err(|_| err(source, line_no, col, format!("{tok:?} is not a number")))?;
        if !v.is_finite() {
            return Err(err(source, line_no, col, format!("{tok:?} is not finite")));
        }
        // -0 and 0 are one id: without this, sorting (total order) kept them apart while
        // frame grouping (==) merged them (found by the scene_file fuzz target)
        fields[count] = if count < 2 { v + 0.0 } else { v };
        count += 1;
    }
    if count != 4 {
        return Err(err(
            source,
            line_no,
            line.len() + 1,
            format!("found {count} fields, expected 4 (`frame agent x y`)"),
        ));
    }
    let (x, y) = (fields[2] as f32, fields[3] as f32);
    if !x.is_finite() || !y.is_finite() {
        return Err(err(source, line_no, 1, "coordinate out of f32 range"));
    }
    Ok(Some(Row {
        frame: fields[0],
        agent: fields[1],
        x,
        y,
    }))
}

/// Parses scene text; `source` names it in errors.
pub fn parse(text: &str, source: &str) -> Result<Scene, Error> {
    let mut rows = Vec::new();
    for (li, line) in text.lines().enumerate() {
        if let Some(row) = parse_line(line, source, li + 1)? {
            rows.push((li + 1, row));
        }
    }
    if rows.is_empty() {
        return Err(Error::BadScene(format!("{source}: no observations")));
    }
    rows.sort_by(|a, b| {
        a.1.frame
            .total_cmp(&b.1.frame)
            .then(a.1.agent.total_cmp(&b.1.agent))
    });
    let mut seen = HashSet::new();
    for (line_no, r) in &rows {
        if !seen.insert((r.frame.to_bits(), r.agent.to_bits())) {
            return Err(err(
                source,
                *line_no,
                1,
                format!("duplicate row for frame {} agent {}", r.frame, r.agent),
            ));
        }
    }
    let rows: Vec<Row> = rows.into_iter().map(|(_, r)| r).collect();
    let mut frames: Vec<f64> = rows.iter().map(|r| r.frame).collect();
    frames.dedup();
    Ok(Scene {
        frame_step: mode_step(&frames),
        rows,
        frames,
    })
}

/// The most common positive difference between consecutive frames (smallest on ties).
fn mode_step(frames: &[f64]) -> f64 {
    let mut diffs: Vec<f64> = frames.windows(2).map(|w| w[1] - w[0]).collect();
    diffs.sort_by(f64::total_cmp);
    let (mut best, mut best_n, mut i) = (0.0, 0, 0);
    while i < diffs.len() {
        let j = diffs[i..]
            .iter()
            .position(|&d| (d - diffs[i]).abs() > 1e-9 * diffs[i].abs().max(1.0))
            .map_or(diffs.len(), |p| i + p);
        if j - i > best_n {
            best_n = j - i;
            best = diffs[i];
        }
        i = j;
    }
    best
}

/// Reads and parses a scene file.
pub fn load(path: &Path) -> Result<Scene, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabs_spaces_crlf_and_float_ids() {
        let s = parse(
            "10\t1.0\t1.5\t2\r\n0 1 0.5 1\n\n10.0 2 3 4\r\n20 1 2.5 3\n",
            "t",
        )
        .unwrap();
        assert_eq!(s.frames, vec![0.0, 10.0, 20.0]);
        assert_eq!(s.frame_step, 10.0);
        assert_eq!(
            s.rows[1],
            Row {
                frame: 10.0,
                agent: 1.0,
                x: 1.5,
                y: 2.0
            }
        );
        assert_eq!(s.frame_ranges(), vec![0..1, 1..3, 3..4]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = parse("0 1 0.5 1\n0 2 abc 1\n", "f.txt")
            .unwrap_err()
            .to_string();
        assert!(e.contains("f.txt:2:5") && e.contains("abc"), "{e}");
        let e = parse("0 1 0.5\n", "f").unwrap_err().to_string();
        assert!(e.contains("f:1:") && e.contains("3 fields"), "{e}");
        let e = parse("0 1 nan 1\n", "f").unwrap_err().to_string();
        assert!(e.contains("f:1:5") && e.contains("not finite"), "{e}");
        let e = parse("0 1 1 1\n0 1.0 2 2\n", "f").unwrap_err().to_string();
        assert!(e.contains("duplicate") && e.contains("f:2:"), "{e}");
        // -0 is the id 0 (a duplicate here), for frames and agents alike
        let e = parse("0 1 1 1\n-0 1 2 2\n", "f").unwrap_err().to_string();
        assert!(e.contains("duplicate"), "{e}");
        let e = parse("0 0 1 1\n0 -0.0 2 2\n", "f").unwrap_err().to_string();
        assert!(e.contains("duplicate"), "{e}");
        assert!(parse("\n\n", "f").is_err());
    }
}
