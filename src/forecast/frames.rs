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
//! [`scene::parse`](super::scene::parse), so both give the forecaster the same frames. Nothing
//! here checks that frame ids increase or that an agent appears once per frame: the forecaster
//! refuses such a frame and stays as it was (`Forecaster::observe`).
//!
//! A line that is not `frame agent x y` (or not UTF-8, or longer than [`MAX_LINE_BYTES`]) is an
//! `Err` naming its line and column; reading goes on after it. Memory stays bounded whatever
//! the input: a line is read up to that length, and [`FrameReader::max_rows`] bounds a frame.
//! An I/O error is an `Err` too, and ends the frames; the frame being gathered when it
//! happened is dropped, since it may lack agents.

use std::io::{BufRead, Read};

use super::scene::{Row, err, parse_line};
use crate::error::Error;

/// One complete frame: its id and its rows, sorted by agent.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameRows {
    pub frame: f64,
    pub rows: Vec<Row>,
}

/// The longest line taken, without its line end: a `frame agent x y` line is far shorter.
pub const MAX_LINE_BYTES: usize = 4096;

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
    /// Rows kept per frame beyond which more are read and dropped.
    keep: usize,
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
            keep: usize::MAX,
            done: false,
        }
    }

    /// Keeps at most `n + 1` rows of a frame; the rest are read and dropped. A forecaster of
    /// `n` agents refuses such a frame anyway, and `n + 1` rows are enough for it to.
    pub fn max_rows(mut self, n: usize) -> Self {
        self.keep = n.saturating_add(1);
        self
    }

    /// Reads the rest of a line that was too long, up to and with its `\n`.
    fn skip_line(&mut self) -> std::io::Result<()> {
        loop {
            let buf = self.input.fill_buf()?;
            if buf.is_empty() {
                return Ok(());
            }
            match buf.iter().position(|&b| b == b'\n') {
                Some(i) => {
                    self.input.consume(i + 1);
                    return Ok(());
                }
                None => {
                    let n = buf.len();
                    self.input.consume(n);
                }
            }
        }
    }

    /// Ends the frames on an I/O error, dropping the frame being gathered (it may lack agents).
    fn fail(&mut self, source: std::io::Error) -> Error {
        self.done = true;
        self.rows.clear();
        Error::Io {
            path: self.source.clone(),
            source,
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
            // `\r\n` may follow the longest line taken
            let limit = MAX_LINE_BYTES as u64 + 2;
            match (&mut self.input)
                .take(limit)
                .read_until(b'\n', &mut self.line)
            {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.line_no += 1;
                    let body = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
                    let body = body.strip_suffix(b"\r").unwrap_or(body);
                    if body.len() > MAX_LINE_BYTES {
                        if !self.line.ends_with(b"\n")
                            && let Err(source) = self.skip_line()
                        {
                            return Some(Err(self.fail(source)));
                        }
                        return Some(Err(err(
                            &self.source,
                            self.line_no,
                            MAX_LINE_BYTES + 1,
                            format!("line longer than {MAX_LINE_BYTES} bytes"),
                        )));
                    }
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
                            _ if self.rows.len() < self.keep => self.rows.push(row),
                            _ => {}
                        },
                        Err(e) => return Some(Err(e)),
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => return Some(Err(self.fail(source))),
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

    /// A line past the length limit is an error and skipped, however long it is; a frame keeps
    /// at most `max_rows + 1` rows.
    #[test]
    fn long_lines_and_crowded_frames_stay_bounded() {
        let mut text = b"0 1 0 0\n".to_vec();
        text.extend(std::iter::repeat_n(b'7', 100_000));
        text.extend(b"\n0 2 1 1\n");
        text.extend(std::iter::repeat_n(b' ', MAX_LINE_BYTES));
        text.extend(b"\r\n0 3 2 2\n");
        for a in 0..50 {
            text.extend(format!("10 {a} 0 0\n").bytes());
        }
        let got: Vec<_> = FrameReader::new(text.as_slice(), "in")
            .max_rows(4)
            .map(|r| r.map_err(|e| e.to_string()))
            .collect();
        assert_eq!(got.len(), 4, "{got:?}");
        let e = got[0].as_ref().unwrap_err();
        assert!(
            e.contains("in:2:4097") && e.contains("longer than 4096"),
            "{e}"
        );
        // the line of 4096 spaces and `\r\n` is blank (it ends frame 0), not too long
        let agents = |i: usize| -> Vec<f64> {
            got[i]
                .as_ref()
                .unwrap()
                .rows
                .iter()
                .map(|r| r.agent)
                .collect()
        };
        assert_eq!((agents(1), agents(2)), (vec![1.0, 2.0], vec![3.0]));
        let crowded = got[3].as_ref().unwrap();
        assert_eq!((crowded.frame, crowded.rows.len()), (10.0, 5));
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
