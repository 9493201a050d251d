//! Minibatch optimal-transport coupling for flow matching: within a batch, the noise samples
//! are re-paired with the targets by the permutation of least total squared distance, so the
//! flow's paths cross less (Tong et al., "Improving and generalizing flow-based generative
//! models with minibatch optimal transport", 2023).

/// The minimum-cost perfect matching of the `n × n` row-major `cost` matrix: row `i` takes
/// column `col[i]`. Hungarian method with row and column potentials, one shortest augmenting
/// path per row, O(n³). Costs must be finite (panics otherwise).
pub fn assignment(cost: &[f64], n: usize) -> Vec<usize> {
    assert_eq!(cost.len(), n * n, "cost matrix is not {n} × {n}");
    assert!(cost.iter().all(|c| c.is_finite()), "non-finite cost");
    // Index 0 of the column arrays is a virtual column holding the row being inserted;
    // rows and columns are 1-based inside.
    let mut row_pot = vec![0.0f64; n + 1];
    let mut col_pot = vec![0.0f64; n + 1];
    let mut row_of = vec![0usize; n + 1]; // row matched to column j, 0 = free
    let mut prev = vec![0usize; n + 1]; // previous column on the augmenting path
    let mut slack = vec![0.0f64; n + 1];
    let mut done = vec![false; n + 1];
    for i in 1..=n {
        row_of[0] = i;
        let mut j0 = 0;
        slack.fill(f64::INFINITY);
        done.fill(false);
        // grow the shortest-path tree until it reaches a free column
        loop {
            done[j0] = true;
            let i0 = row_of[j0];
            let (mut delta, mut j1) = (f64::INFINITY, 0);
            for j in 1..=n {
                if done[j] {
                    continue;
                }
                let reduced = cost[(i0 - 1) * n + (j - 1)] - row_pot[i0] - col_pot[j];
                if reduced < slack[j] {
                    slack[j] = reduced;
                    prev[j] = j0;
                }
                if slack[j] < delta {
                    delta = slack[j];
                    j1 = j;
                }
            }
            for j in 0..=n {
                if done[j] {
                    row_pot[row_of[j]] += delta;
                    col_pot[j] -= delta;
                } else {
                    slack[j] -= delta;
                }
            }
            j0 = j1;
            if row_of[j0] == 0 {
                break;
            }
        }
        // flip the matching along the path back to the virtual column
        while j0 != 0 {
            let j1 = prev[j0];
            row_of[j0] = row_of[j1];
            j0 = j1;
        }
    }
    let mut col = vec![0; n];
    for j in 1..=n {
        col[row_of[j] - 1] = j - 1;
    }
    col
}

/// Re-pairs noise with targets: `noise` holds `b` items of `w` values, `target` `b` items of
/// `tw` values, where a noise item is `w / tw` copies' worth of one target (the K modes of an
/// agent share its future). Returns the noise reordered so that item `i` is the noise item
/// assigned to target `i`, minimizing Σ_i ‖noise_{π(i)} − target_i‖² (each of the noise item's
/// `w / tw` blocks against the target).
pub fn couple(noise: &[f32], target: &[f32], b: usize, w: usize, tw: usize) -> Vec<f32> {
    assert!(
        tw > 0 && w.is_multiple_of(tw),
        "noise width {w} is not a multiple of {tw}"
    );
    assert_eq!(noise.len(), b * w);
    assert_eq!(target.len(), b * tw);
    let mut cost = vec![0.0f64; b * b];
    for i in 0..b {
        let t = &target[i * tw..(i + 1) * tw];
        for j in 0..b {
            let z = &noise[j * w..(j + 1) * w];
            cost[i * b + j] = z
                .chunks(tw)
                .flat_map(|block| block.iter().zip(t))
                .map(|(&a, &c)| ((a - c) as f64).powi(2))
                .sum();
        }
    }
    let col = assignment(&cost, b);
    let mut out = Vec::with_capacity(noise.len());
    for &j in &col {
        out.extend_from_slice(&noise[j * w..(j + 1) * w]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use fewstep::rng::Rng;

    fn total(cost: &[f64], n: usize, col: &[usize]) -> f64 {
        (0..n).map(|i| cost[i * n + col[i]]).sum()
    }

    /// Every permutation of 0..n (Heap's algorithm).
    fn permutations(n: usize) -> Vec<Vec<usize>> {
        fn go(k: usize, a: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
            if k <= 1 {
                out.push(a.clone());
                return;
            }
            for i in 0..k {
                go(k - 1, a, out);
                let j = if k.is_multiple_of(2) { i } else { 0 };
                a.swap(j, k - 1);
            }
        }
        let mut out = Vec::new();
        go(n, &mut (0..n).collect(), &mut out);
        out
    }

    #[test]
    fn assignment_is_optimal_against_brute_force() {
        let mut rng = Rng::new(8);
        for n in 1..=7 {
            let all = permutations(n);
            for trial in 0..20 {
                // integer costs with ties, and continuous ones
                let cost: Vec<f64> = (0..n * n)
                    .map(|_| {
                        if trial % 2 == 0 {
                            (rng.uniform() * 5.0).floor() as f64
                        } else {
                            rng.normal() as f64 * 3.0
                        }
                    })
                    .collect();
                let col = assignment(&cost, n);
                let mut seen = col.clone();
                seen.sort();
                assert_eq!(seen, (0..n).collect::<Vec<_>>(), "not a permutation");
                let best = all
                    .iter()
                    .map(|p| total(&cost, n, p))
                    .fold(f64::INFINITY, f64::min);
                let got = total(&cost, n, &col);
                assert!((got - best).abs() < 1e-9, "n={n}: {got} vs optimum {best}");
            }
        }
    }

    #[test]
    fn coupling_pairs_each_noise_with_its_nearest_target_when_that_is_a_permutation() {
        // targets far apart; noise = a shuffled, slightly perturbed copy of them (2 modes each)
        let (b, tw) = (6, 3);
        let target: Vec<f32> = (0..b * tw).map(|i| (i / tw) as f32 * 10.0).collect();
        let order = [3, 0, 5, 1, 4, 2];
        let mut noise = Vec::new();
        for &j in &order {
            for _ in 0..2 {
                noise.extend(target[j * tw..(j + 1) * tw].iter().map(|v| v + 0.1));
            }
        }
        let coupled = couple(&noise, &target, b, 2 * tw, tw);
        for i in 0..b {
            assert!(
                (coupled[i * 2 * tw] - (target[i * tw] + 0.1)).abs() < 1e-6,
                "item {i}"
            );
        }
    }
}
