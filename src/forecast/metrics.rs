//! minADE_K / minFDE_K: the best of K predicted futures by average (resp. final) displacement,
//! each minimised independently, as in the ETH-UCY literature.

use super::{PRED, Point};

fn dist(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

/// `(minADE, minFDE)` of `futures` (K × 12 points) against the ground truth.
pub fn min_ade_fde(futures: &[[Point; PRED]], truth: &[Point; PRED]) -> (f32, f32) {
    let mut ade = f32::INFINITY;
    let mut fde = f32::INFINITY;
    for f in futures {
        let a = f.iter().zip(truth).map(|(p, q)| dist(*p, *q)).sum::<f32>() / PRED as f32;
        ade = ade.min(a);
        fde = fde.min(dist(f[PRED - 1], truth[PRED - 1]));
    }
    (ade, fde)
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
    }
}
