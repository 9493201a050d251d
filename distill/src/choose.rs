//! Choosing a velocity model's sampler on the val split: each candidate (method and uniform
//! step count) is scored by minADE + minFDE averaged over a few noise seeds, and the lowest
//! score wins; ties go to fewer network passes, then to Euler. Test windows never enter.

use fewstep::card::Method;
use fewstep::forecast::windows::Window;

use crate::eval::{Loaded, Sampling, evaluate_groups, method_label};

/// A sampler to try: `steps` uniform steps of `method` over the card's interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub method: Method,
    pub steps: usize,
}

impl Candidate {
    /// Network passes per sample.
    pub fn passes(&self) -> usize {
        self.steps * self.method.evals_per_step()
    }

    /// E.g. `2 Euler`, `3 Heun`.
    pub fn label(&self) -> String {
        format!("{} {}", self.steps, method_label(self.method))
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

/// The candidates `steps` of each method, in the order given (Euler, Heun, midpoint).
/// Every step count must be at least 1 and at least one candidate must be given.
pub fn candidates(
    euler: &[usize],
    heun: &[usize],
    midpoint: &[usize],
) -> Result<Vec<Candidate>, String> {
    let mut out = Vec::new();
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
            let c = Candidate { method, steps: s };
            if !out.contains(&c) {
                out.push(c);
            }
        }
    }
    if out.is_empty() {
        return Err("no candidate sampler to choose from".into());
    }
    Ok(out)
}

/// Scores every candidate on the sampling groups `groups` ([`evaluate_groups`]), averaging
/// over `seeds` (at least one). `progress` is called after each candidate with its figures.
pub fn score_candidates(
    m: &Loaded,
    groups: &[Vec<Window>],
    cands: &[Candidate],
    seeds: &[u64],
    chunk: usize,
    mut progress: impl FnMut(&Scored),
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
    let mut out = Vec::with_capacity(cands.len());
    for c in cands {
        let (mut ade, mut fde) = (0.0, 0.0);
        for &seed in seeds {
            let sampling = Sampling {
                steps: Some(c.steps),
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
            candidate: *c,
            min_ade: ade / n,
            min_fde: fde / n,
        };
        progress(&s);
        out.push(s);
    }
    Ok(out)
}

/// The lowest score; ties go to fewer network passes, then to Euler, then Heun.
pub fn best(scored: &[Scored]) -> Option<&Scored> {
    let rank = |m: Method| match m {
        Method::Euler => 0,
        Method::Heun => 1,
        Method::Midpoint => 2,
    };
    scored.iter().min_by(|a, b| {
        a.score()
            .total_cmp(&b.score())
            .then(a.candidate.passes().cmp(&b.candidate.passes()))
            .then(rank(a.candidate.method).cmp(&rank(b.candidate.method)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scored(method: Method, steps: usize, ade: f64, fde: f64) -> Scored {
        Scored {
            candidate: Candidate { method, steps },
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
        assert_eq!(best(&s).unwrap().candidate.steps, 2);
    }

    #[test]
    fn ties_go_to_fewer_passes_then_to_euler() {
        let s = [
            scored(Method::Euler, 4, 0.2, 0.3),
            scored(Method::Midpoint, 1, 0.2, 0.3),
            scored(Method::Heun, 1, 0.2, 0.3),
            scored(Method::Euler, 2, 0.2, 0.3),
        ];
        let b = best(&s).unwrap().candidate;
        assert_eq!((b.method, b.steps), (Method::Euler, 2));
        let b = best(&s[..3]).unwrap().candidate;
        assert_eq!((b.method, b.steps), (Method::Heun, 1));
        assert!(best(&[]).is_none());
    }

    #[test]
    fn candidates_are_checked_and_deduplicated() {
        let c = candidates(&[1, 2, 2], &[1], &[]).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c[2].passes(), 2);
        assert_eq!(c[2].label(), "1 Heun");
        assert!(
            candidates(&[1, 0], &[], &[])
                .unwrap_err()
                .contains("0 steps")
        );
        assert!(
            candidates(&[], &[], &[])
                .unwrap_err()
                .contains("no candidate")
        );
    }
}
