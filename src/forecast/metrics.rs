//! minADE_K / minFDE_K: the best of K predicted futures by average (resp. final) displacement,
//! each minimised independently, as in the ETH-UCY literature.

use super::{PRED, Point};

fn dist(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// `(minADE, minFDE)` of `futures` (K × 12 points) against the ground truth.
pub fn min_ade_fde(futures: &[[Point; PRED]], truth: &[Point; PRED]) -> (f32, f32) {
    let (ade, fde, _) = min_ade_fde_mode(futures, truth);
    (ade, fde)
}

/// `(minADE, minFDE, m)`: as [`min_ade_fde`], and `m`, the index of the future with the least
/// ADE (the first of equals; 0 when `futures` is empty).
pub fn min_ade_fde_mode(futures: &[[Point; PRED]], truth: &[Point; PRED]) -> (f32, f32, usize) {
    let mut ade = f32::INFINITY;
    let mut fde = f32::INFINITY;
    let mut best = 0;
    for (m, f) in futures.iter().enumerate() {
        let a = f.iter().zip(truth).map(|(p, q)| dist(*p, *q)).sum::<f32>() / PRED as f32;
        if a < ade {
            ade = a;
            best = m;
        }
        fde = fde.min(dist(f[PRED - 1], truth[PRED - 1]));
    }
    (ade, fde, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn best_mode_is_chosen_per_metric() {
        let truth = [[0.0, 0.0]; PRED];
        let mut a = [[1.0, 0.0]; PRED]; // ADE 1, FDE 1
        a[PRED - 1] = [1.0, 0.0];
        let mut b = [[0.0, 0.0]; PRED]; // ADE 0.25, FDE 3
        b[PRED - 1] = [3.0, 0.0];
        let (ade, fde) = min_ade_fde(&[a, b], &truth);
        assert!((ade - 0.25).abs() < 1e-6 && (fde - 1.0).abs() < 1e-6);
        assert_eq!(min_ade_fde_mode(&[a, b], &truth).2, 1);
        assert_eq!(min_ade_fde_mode(&[b, a, b], &truth).2, 0);
    }
}
