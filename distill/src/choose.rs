//! Choosing a velocity model's sampler on the val split: each candidate (method and time
//! grid) is scored by minADE + minFDE averaged over a few noise seeds, and the lowest score
//! wins; ties go to fewer network passes, then to a uniform grid, then to Euler. Test windows
//! never enter.

use fewstep::card::{Method, SamplerSpec};
use fewstep::forecast::windows::Window;

use crate::eval::{Loaded, Sampling, evaluate_groups, method_label, par_map};

/// A sampler to try: a method over a time grid from 0 to 1.
pub type Candidate = SamplerSpec;

/// Two Euler steps over the grid (0, `t1`, 1).
pub fn two_step_grid(t1: f32) -> Candidate {
    SamplerSpec {
        method: Method::Euler,
        times: vec![0.0, t1, 1.0],
    }
}

/// A sampler as tables print it: `2 Euler`, `3 Heun`, and the times when the grid is not the
/// uniform one, `2 Euler (0, 0.1, 1)`.
pub fn sampler_label(s: &SamplerSpec) -> String {
    let name = format!("{} {}", s.steps(), method_label(s.method));
    if s.is_uniform() {
        name
    } else {
        let t: Vec<String> = s.times.iter().map(|t| t.to_string()).collect();
        format!("{name} ({})", t.join(", "))
    }
}

/// A candidate's figures, each the mean over the noise seeds.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    pub candidate: Candidate,
    pub min_ade: f64,
    pub min_fde: f64,
}

impl Scored {
    /// What the choice minimises.
    pub fn score(&self) -> f64 {
        self.min_ade + self.min_fde
    }
}

/// The candidates: uniform grids of `euler`, `heun` and `midpoint` steps, then two-step Euler
/// grids (0, t1, 1) for each `two_step` t1, in that order. Every step count must be at least 1,
/// every t1 strictly between 0 and 1, and at least one candidate must be given.
pub fn candidates(
    euler: &[usize],
    heun: &[usize],
    midpoint: &[usize],
    two_step: &[f32],
) -> Result<Vec<Candidate>, String> {
    let mut out: Vec<Candidate> = Vec::new();
    let mut push = |c: Candidate| {
        if !out.contains(&c) {
            out.push(c);
        }
    };
    for (method, steps) in [
        (Method::Euler, euler),
        (Method::Heun, heun),
        (Method::Midpoint, midpoint),
    ] {
        for &s in steps {
            if s == 0 {
                return Err(format!(
                    "{} with 0 steps: every candidate needs at least one step",
                    method_label(method)
                ));
            }
            push(Candidate::uniform(method, s));
        }
    }
    for &t1 in two_step {
        if !(t1 > 0.0 && t1 < 1.0) {
            return Err(format!(
                "a two-step grid (0, t1, 1) needs 0 < t1 < 1 (got {t1})"
            ));
        }
        push(two_step_grid(t1));
    }
    if out.is_empty() {
        return Err("no candidate sampler to choose from".into());
    }
    Ok(out)
}

/// Scores every candidate on the sampling groups `groups` ([`evaluate_groups`]), averaging
/// over `seeds` (at least one), `jobs` candidates at a time; the scores come back in `cands`'
/// order. `progress` is called after each candidate with its figures, from the thread that
/// scored it.
pub fn score_candidates(
    m: &Loaded,
    groups: &[Vec<Window>],
    cands: &[Candidate],
    seeds: &[u64],
    chunk: usize,
    jobs: usize,
    progress: impl Fn(&Scored) + Sync,
) -> Result<Vec<Scored>, String> {
    if seeds.is_empty() {
        return Err("at least one noise seed is needed".into());
    }
    if m.kind != fewstep::card::Kind::Velocity {
        return Err(format!(
            "{}: a {:?} model has no sampler to choose",
            m.path.display(),
            m.kind
        ));
    }
    // candidates side by side, each whole (its seeds in order) on one thread: the scores do not
    // depend on `jobs`
    par_map(cands, jobs, |c| {
        let (mut ade, mut fde) = (0.0, 0.0);
        for &seed in seeds {
            let sampling = Sampling {
                times: Some(c.times.clone()),
                method: Some(c.method),
                seed,
                chunk,
                ..Sampling::default()
            };
            let (a, f, _) = evaluate_groups(m, groups, &sampling)?;
            ade += a;
            fde += f;
        }
        let n = seeds.len() as f64;
        let s = Scored {
            candidate: c.clone(),
            min_ade: ade / n,
            min_fde: fde / n,
        };
        progress(&s);
        Ok(s)
    })
    .into_iter()
    .collect()
}

/// The lowest score; ties go to fewer network passes, then to a uniform grid, then to Euler,
/// then Heun.
pub fn best(scored: &[Scored]) -> Option<&Scored> {
    let rank = |m: Method| match m {
        Method::Euler => 0,
        Method::Heun => 1,
        Method::Midpoint => 2,
    };
    scored.iter().min_by(|a, b| {
        let (ca, cb) = (&a.candidate, &b.candidate);
        a.score()
            .total_cmp(&b.score())
            .then(ca.passes().cmp(&cb.passes()))
            .then(cb.is_uniform().cmp(&ca.is_uniform()))
            .then(rank(ca.method).cmp(&rank(cb.method)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(method: Method, steps: usize, ade: f64, fde: f64) -> Scored {
        Scored {
            candidate: Candidate::uniform(method, steps),
            min_ade: ade,
            min_fde: fde,
        }
    }

    #[test]
    fn the_lowest_sum_wins_whatever_its_parts() {
        let s = [
            scored(Method::Euler, 10, 0.180, 0.340),
            scored(Method::Euler, 2, 0.185, 0.330),
            scored(Method::Heun, 1, 0.179, 0.345),
        ];
        assert_eq!(best(&s).unwrap().candidate.steps(), 2);
    }

    #[test]
    fn ties_go_to_fewer_passes_then_to_uniform_grids_then_to_euler() {
        let mut s = vec![
            scored(Method::Euler, 4, 0.2, 0.3),
            scored(Method::Midpoint, 1, 0.2, 0.3),
            scored(Method::Heun, 1, 0.2, 0.3),
        ];
        assert_eq!(
            best(&s).unwrap().candidate,
            Candidate::uniform(Method::Heun, 1)
        );
        s.push(Scored {
            candidate: two_step_grid(0.1),
            ..s[0].clone()
        });
        // as many passes as Heun's one step, but not a uniform grid
        assert_eq!(
            best(&s).unwrap().candidate,
            Candidate::uniform(Method::Heun, 1)
        );
        s.push(scored(Method::Euler, 2, 0.2, 0.3));
        assert_eq!(
            best(&s).unwrap().candidate,
            Candidate::uniform(Method::Euler, 2)
        );
        assert!(best(&[]).is_none());
    }

    #[test]
    fn candidates_are_checked_and_deduplicated() {
        let c = candidates(&[1, 2, 2], &[1], &[], &[0.5, 0.25]).unwrap();
        // (0, 0.5, 1) is the uniform 2-step grid already listed
        assert_eq!(c.len(), 4);
        assert_eq!(
            (c[2].passes(), sampler_label(&c[2])),
            (2, "1 Heun".to_string())
        );
        assert_eq!(sampler_label(&c[3]), "2 Euler (0, 0.25, 1)");
        assert!(c[1].is_uniform() && !c[3].is_uniform());
        assert!(
            candidates(&[1, 0], &[], &[], &[])
                .unwrap_err()
                .contains("0 steps")
        );
        for bad in [0.0, 1.0, f32::NAN] {
            assert!(
                candidates(&[], &[], &[], &[bad])
                    .unwrap_err()
                    .contains("0 < t1 < 1")
            );
        }
        assert!(
            candidates(&[], &[], &[], &[])
                .unwrap_err()
                .contains("no candidate")
        );
    }
}
