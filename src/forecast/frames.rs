//! Scene text as it arrives, one frame at a time: what a live tracker writes to a pipe.
//!
//! [`FrameReader`] reads `frame agent x y` lines (the [`scene`](super::scene) format) from any
//! [`BufRead`] and yields each frame's rows as soon as the frame is known to be complete:
//! - when a line of another frame arrives (that line starts the next frame);
//! - when a blank line arrives, so a live producer can flush a frame without waiting for the
//!   next one;
//! - at the end of the input.
//!
//! A frame's rows come sorted by agent, as a scene file's do after
//! [`scene::parse`](super::scene::parse), so both give the forecaster the same frames. Nothing here checks that
//! frame ids increase or that an agent appears once per frame: the forecaster refuses such a
//! frame and stays as it was (`Forecaster::observe`).
//!
//! A line that is not `frame agent x y` (or not UTF-8) is an `Err` naming its line and column;
//! reading goes on after it. An I/O error is an `Err` too, and ends the frames; the frame being
//! gathered when it happened is dropped, since it may lack agents.

use std::io::BufRead;

use super::scene::{Row, err, parse_line};
use crate::error::Error;

/// One complete frame: its id and its rows, sorted by agent.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRows {
    pub frame: f64,
    pub rows: Vec<Row>,
}

/// See the module docs.
pub struct FrameReader<R> {
    input: R,
    source: String,
    line_no: usize,
    line: Vec<u8>,
    /// The frame being gathered.
    rows: Vec<Row>,
    /// The first row of the next frame, read while looking for the end of this one.
    next: Option<Row>,
    done: bool,
}

impl<R: BufRead> FrameReader<R> {
    /// Reads from `input`; `source` names it in errors (e.g. `"stdin"`).
    pub fn new(input: R, source: &str) -> Self {
        FrameReader {
            input,
            source: source.to_string(),
            line_no: 0,
            line: Vec::new(),
            rows: Vec::new(),
            next: None,
            done: false,
        }
    }

    /// The number of lines read so far.
    pub fn lines_read(&self) -> usize {
        self.line_no
    }

    /// Takes the gathered rows as a frame, sorted by agent; `None` when there are none.
    fn take(&mut self) -> Option<FrameRows> {
        let first = self.rows.first()?;
        let frame = first.frame;
        let mut rows = std::mem::take(&mut self.rows);
        rows.sort_by(|a, b| a.agent.total_cmp(&b.agent));
        Some(FrameRows { frame, rows })
    }
}

impl<R: BufRead> Iterator for FrameReader<R> {
    type Item = Result<FrameRows, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(row) = self.next.take() {
            self.rows.push(row);
        }
        while !self.done {
            self.line.clear();
            match self.input.read_until(b'\n', &mut self.line) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line_no += 1;
                    let text = match std::str::from_utf8(&self.line) {
                        // the line ends `str::lines` strips: `\n` or `\r\n`
                        Ok(t) => t
                            .strip_suffix('\n')
                            .map_or(t, |t| t.strip_suffix('\r').unwrap_or(t)),
                        Err(e) => {
                            let col = e.valid_up_to() + 1;
                            return Some(Err(err(&self.source, self.line_no, col, "not UTF-8")));
                        }
                    };
                    match parse_line(text, &self.source, self.line_no) {
                        Ok(None) => {
                            if let Some(f) = self.take() {
                                return Some(Ok(f));
                            }
                        }
                        Ok(Some(row)) => match self.rows.first() {
                            Some(first) if first.frame != row.frame => {
                                self.next = Some(row);
                                return self.take().map(Ok);
                            }
                            _ => self.rows.push(row),
                        },
                        Err(e) => return Some(Err(e)),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    self.done = true;
                    self.rows.clear();
                    return Some(Err(Error::Io {
                        path: self.source.clone(),
                        source,
                    }));
                }
            }
        }
        self.take().map(Ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::scene;

    fn frames(text: &[u8]) -> Vec<Result<FrameRows, String>> {
        FrameReader::new(text, "in")
            .map(|r| r.map_err(|e| e.to_string()))
            .collect()
    }

    #[test]
    fn frames_end_at_the_next_frame_a_blank_line_or_the_end() {
        let got = frames(b"0 2 1 1\r\n0 1 0 0\n10 1 0.5 0\n\n10\t2 1.5 1\n20 1 1 0");
        let ids: Vec<(f64, Vec<f64>)> = got
            .iter()
            .map(|f| {
                let f = f.as_ref().unwrap();
                (f.frame, f.rows.iter().map(|r| r.agent).collect())
            })
            .collect();
        // the blank line split frame 10 in two; agents come sorted
        assert_eq!(
            ids,
            vec![
                (0.0, vec![1.0, 2.0]),
                (10.0, vec![1.0]),
                (10.0, vec![2.0]),
                (20.0, vec![1.0])
            ]
        );
        // line ends as `scene::parse` takes them: `\r\n`, and one more `\r` before it
        let s = "0 1 1 1\r\r\n0 2 2 2\r";
        assert_eq!(scene::parse(s, "in").unwrap().rows.len(), 2);
        assert_eq!(frames(s.as_bytes())[0].as_ref().unwrap().rows.len(), 2);
        assert!(frames(b"").is_empty());
        assert!(frames(b"\n \n\t\r\n").is_empty());
    }

    /// A whole scene read frame by frame gives the rows `scene::parse` gives.
    #[test]
    fn a_file_read_as_a_stream_matches_the_parsed_scene() {
        let mut text = String::new();
        for f in 0..30 {
            for a in [3, 1, 2] {
                if (f + a) % 7 != 0 {
                    text += &format!("{} {a} {} {}\n", f * 10, f as f32 * 0.3, a as f32 - 0.5);
                }
            }
        }
        let s = scene::parse(&text, "t").unwrap();
        let streamed: Vec<FrameRows> = FrameReader::new(text.as_bytes(), "t")
            .collect::<Result<_, _>>()
            .unwrap();
        let ranges = s.frame_ranges();
        assert_eq!(streamed.len(), ranges.len());
        for ((f, r), id) in streamed.iter().zip(ranges).zip(&s.frames) {
            assert_eq!(f.frame, *id);
            assert_eq!(f.rows, s.rows[r]);
        }
    }

    #[test]
    fn a_bad_line_is_an_error_naming_it_and_reading_goes_on() {
        let got = frames(b"0 1 0 0\n0 2 x 0\n0 3 1 1\n10 1 \xff 0\n10 1 2 2\n");
        assert_eq!(got.len(), 4, "{got:?}");
        let e = got[0].as_ref().unwrap_err();
        assert!(e.contains("in:2:5") && e.contains("\"x\""), "{e}");
        // line 4 is reported before frame 0 is known to be complete (at line 5)
        let e = got[1].as_ref().unwrap_err();
        assert!(e.contains("in:4:6") && e.contains("UTF-8"), "{e}");
        let f = got[2].as_ref().unwrap();
        assert_eq!((f.frame, f.rows.len()), (0.0, 2));
        let f = got[3].as_ref().unwrap();
        assert_eq!((f.frame, f.rows.len()), (10.0, 1));
    }

    /// An I/O error ends the frames, after the one being gathered is dropped.
    #[test]
    fn an_io_error_ends_the_frames() {
        struct Broken(bool);
        impl std::io::Read for Broken {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.0 {
                    return Err(std::io::Error::other("gone"));
                }
                self.0 = true;
                let line = b"0 1 0 0\n";
                buf[..line.len()].copy_from_slice(line);
                Ok(line.len())
            }
        }
        let r = FrameReader::new(std::io::BufReader::new(Broken(false)), "pipe");
        let got: Vec<_> = r.collect();
        assert_eq!(got.len(), 1);
        let e = got[0].as_ref().unwrap_err().to_string();
        assert!(e.contains("pipe") && e.contains("gone"), "{e}");
    }
}
