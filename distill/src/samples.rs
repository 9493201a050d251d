//! Teacher samples, the raw material of every student: per training item, K noise vectors `z`
//! and the teacher's ODE endpoints `x1 = ODE(z, cond)` (N uniform Euler steps).
//!
//! For ETH-UCY they are generated through the fewstep runtime (the exported `teacher.onnx`, native
//! backend, several threads), which is many times faster than candle; the toy suite uses candle
//! ([`from_candle`]). A set is cached in one file (`FSTS` header + `z` + `x1`, little-endian f32)
//! so the three students share it.

use std::io::{Read, Write};
use std::path::Path;

use fewstep::rng::Rng;
use fewstep::{Backend, Model, Precision, Session, SessionOptions};
use indicatif::{ProgressBar, ProgressStyle};

use crate::model::TrajNet;

const MAGIC: &[u8; 4] = b"FSTS";

/// `n` items of `per` values each (K × state): noise and the teacher's endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct TeacherSamples {
    pub n: usize,
    pub per: usize,
    /// Euler steps used.
    pub steps: usize,
    pub seed: u64,
    pub z: Vec<f32>,
    pub x1: Vec<f32>,
}

/// The noise of item `i` (deterministic in `seed`, independent of threading).
fn noise(n: usize, per: usize, seed: u64) -> Vec<f32> {
    let mut z = vec![0f32; n * per];
    Rng::new(seed).fill_normal(&mut z);
    z
}

/// Samples through the fewstep runtime: `model` is the teacher's ONNX file, `cond` `[n, c]`.
pub fn from_runtime(
    model: &Path,
    cond: &[f32],
    n: usize,
    steps: usize,
    seed: u64,
    threads: usize,
) -> Result<TeacherSamples, String> {
    let m = Model::load(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let chunk = 256usize.min(n.max(1));
    let sym = m.symbols().first().cloned().unwrap_or_else(|| "N".into());
    let make = || -> Result<Session, String> {
        let mut so = SessionOptions {
            backend: Backend::Native,
            precision: Precision::F32,
            ..Default::default()
        };
        so.dims.insert(sym.clone(), chunk);
        let mut s = Session::new(&m, so).map_err(|e| e.to_string())?;
        s.set_uniform_steps(steps.max(1))
            .map_err(|e| e.to_string())?;
        Ok(s)
    };
    let probe = make()?;
    let (per, cw) = (probe.state_len() / chunk, probe.cond_len() / chunk);
    drop(probe);
    if cond.len() != n * cw {
        return Err(format!(
            "{} condition values for {n} items of {cw}",
            cond.len()
        ));
    }
    let z = noise(n, per, seed);
    let mut x1 = vec![0f32; n * per];
    let pb = ProgressBar::new(n as u64);
    pb.set_style(
        ProgressStyle::with_template(&format!(
            "teacher samples ({steps} steps) [{{bar:30}}] {{pos}}/{{len}} ({{elapsed}} < {{eta}})"
        ))
        .map_err(|e| e.to_string())?
        .progress_chars("=> "),
    );
    let threads = threads.max(1);
    let per_thread = n.div_ceil(threads).div_ceil(chunk) * chunk;
    std::thread::scope(|sc| -> Result<(), String> {
        let mut handles = Vec::new();
        for (ti, out) in x1.chunks_mut(per_thread.max(1) * per).enumerate() {
            let (z, pb, make) = (&z, &pb, &make);
            handles.push(sc.spawn(move || -> Result<(), String> {
                let mut s = make()?;
                let first = ti * per_thread;
                let mut c = vec![0f32; chunk * cw];
                let mut zz = vec![0f32; chunk * per];
                let mut o = vec![0f32; chunk * per];
                let items = out.len() / per;
                let mut i = 0;
                while i < items {
                    let b = chunk.min(items - i);
                    let g = first + i;
                    c.fill(0.0);
                    zz.fill(0.0);
                    c[..b * cw].copy_from_slice(&cond[g * cw..(g + b) * cw]);
                    zz[..b * per].copy_from_slice(&z[g * per..(g + b) * per]);
                    s.sample(&c, &zz, &mut o).map_err(|e| e.to_string())?;
                    out[i * per..(i + b) * per].copy_from_slice(&o[..b * per]);
                    pb.inc(b as u64);
                    i += b;
                }
                Ok(())
            }));
        }
        for h in handles {
            h.join().map_err(|_| "a sampling thread panicked")??;
        }
        Ok(())
    })?;
    pb.finish_and_clear();
    Ok(TeacherSamples {
        n,
        per,
        steps,
        seed,
        z,
        x1,
    })
}

/// Samples with candle (small nets, the toy suite); same noise as [`from_runtime`].
pub fn from_candle(
    net: &TrajNet,
    cond: &[f32],
    n: usize,
    steps: usize,
    seed: u64,
) -> Result<TeacherSamples, String> {
    let per = net.config.modes * net.config.state;
    let z = noise(n, per, seed);
    let x1 = crate::train::sample_from(net, &z, cond, n, steps).map_err(|e| e.to_string())?;
    Ok(TeacherSamples {
        n,
        per,
        steps,
        seed,
        z,
        x1,
    })
}

impl TeacherSamples {
    /// Writes the set to `path` (atomically: a temporary file, then a rename).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let tmp = path.with_extension("tmp");
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?,
        );
        let mut w = |b: &[u8]| f.write_all(b).map_err(|e| e.to_string());
        w(MAGIC)?;
        for v in [self.n as u64, self.per as u64, self.steps as u64, self.seed] {
            w(&v.to_le_bytes())?;
        }
        for v in self.z.iter().chain(&self.x1) {
            w(&v.to_le_bytes())?;
        }
        f.into_inner()
            .map_err(|e| e.to_string())?
            .sync_all()
            .map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Reads a set written by [`TeacherSamples::save`].
    pub fn load(path: &Path) -> Result<TeacherSamples, String> {
        let bad = |why: &str| format!("{}: not a teacher-sample file ({why})", path.display());
        let mut b = Vec::new();
        std::fs::File::open(path)
            .and_then(|mut f| f.read_to_end(&mut b))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if b.len() < 36 || &b[..4] != MAGIC {
            return Err(bad("bad header"));
        }
        let u =
            |i: usize| u64::from_le_bytes(b[4 + 8 * i..12 + 8 * i].try_into().expect("8 bytes"));
        let (n, per, steps, seed) = (u(0) as usize, u(1) as usize, u(2) as usize, u(3));
        let count = n
            .checked_mul(per)
            .and_then(|c| c.checked_mul(8))
            .ok_or_else(|| bad("size overflows"))?;
        if b.len() != 36 + count {
            return Err(bad("truncated"));
        }
        let vals: Vec<f32> = b[36..]
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
        let (z, x1) = vals.split_at(n * per);
        Ok(TeacherSamples {
            n,
            per,
            steps,
            seed,
            z: z.to_vec(),
            x1: x1.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_and_load_round_trip_and_truncation_is_an_error() {
        let s = TeacherSamples {
            n: 3,
            per: 4,
            steps: 7,
            seed: 9,
            z: (0..12).map(|i| i as f32).collect(),
            x1: (0..12).map(|i| -(i as f32)).collect(),
        };
        let p = std::env::temp_dir().join(format!("fsts-{}.bin", std::process::id()));
        s.save(&p).unwrap();
        assert_eq!(TeacherSamples::load(&p).unwrap(), s);
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() - 1]).unwrap();
        assert!(TeacherSamples::load(&p).unwrap_err().contains("truncated"));
        let _ = std::fs::remove_file(&p);
    }
}
