//! AdamW (decoupled weight decay on matrices, moments kept in `VarMap`s so that they are
//! checkpointed), global gradient norm, the warm-up + cosine schedule, seeded permutations.

use candle_core::Var;
use candle_nn::VarMap;
use fewstep::rng::Rng;

use crate::model::{TrajNet, is_matrix};

/// AdamW with its moments in two `VarMap`s (so they are saved with the checkpoint).
pub struct AdamW {
    pub m: VarMap,
    pub v: VarMap,
    pub step: usize,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
}

impl AdamW {
    pub fn new(net: &TrajNet, weight_decay: f64) -> candle_core::Result<AdamW> {
        let (m, v) = (VarMap::new(), VarMap::new());
        for vm in [&m, &v] {
            let mut d = vm.data().lock().expect("varmap lock");
            for name in net.names() {
                let p = net.param(&name)?;
                d.insert(name, Var::zeros(p.shape(), p.dtype(), p.device())?);
            }
        }
        Ok(AdamW {
            m,
            v,
            step: 0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        })
    }

    /// One step at learning rate `lr`; gradients are scaled by `grad_scale` (clipping).
    pub fn step(
        &mut self,
        net: &TrajNet,
        grads: &candle_core::backprop::GradStore,
        lr: f64,
        grad_scale: f64,
    ) -> candle_core::Result<()> {
        self.step += 1;
        let bc1 = 1.0 - self.beta1.powi(self.step as i32);
        let bc2 = 1.0 - self.beta2.powi(self.step as i32);
        let params = net.varmap.data().lock().expect("varmap lock");
        let ms = self.m.data().lock().expect("varmap lock");
        let vs = self.v.data().lock().expect("varmap lock");
        for (name, theta) in params.iter() {
            let Some(g) = grads.get(theta.as_tensor()) else {
                continue;
            };
            let g = (g * grad_scale)?;
            let (m, v) = (&ms[name], &vs[name]);
            let nm = ((m.as_tensor() * self.beta1)? + (&g * (1.0 - self.beta1))?)?;
            let nv = ((v.as_tensor() * self.beta2)? + (g.sqr()? * (1.0 - self.beta2))?)?;
            let upd = ((&nm / bc1)? / ((&nv / bc2)?.sqrt()? + self.eps)?)?;
            let decay = if is_matrix(theta.dims()) {
                1.0 - lr * self.weight_decay
            } else {
                1.0
            };
            let next = ((theta.as_tensor() * decay)? - (upd * lr)?)?;
            m.set(&nm)?;
            v.set(&nv)?;
            theta.set(&next)?;
        }
        Ok(())
    }
}

/// Global L2 norm of the gradients of `net`'s parameters.
pub fn grad_norm(
    net: &TrajNet,
    grads: &candle_core::backprop::GradStore,
) -> candle_core::Result<f64> {
    let params = net.varmap.data().lock().expect("varmap lock");
    let mut s = 0f64;
    for theta in params.values() {
        if let Some(g) = grads.get(theta.as_tensor()) {
            s += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    Ok(s.sqrt())
}

/// Learning rate at `step` of `total`: linear warm-up, then cosine to 0.
pub fn lr_at(step: usize, total: usize, peak: f64, warmup: f64) -> f64 {
    let w = ((total as f64 * warmup).round() as usize).max(1);
    if step < w {
        return peak * (step + 1) as f64 / w as f64;
    }
    let p = (step - w) as f64 / (total.saturating_sub(w)).max(1) as f64;
    peak * 0.5 * (1.0 + (std::f64::consts::PI * p.min(1.0)).cos())
}

/// A seeded Fisher–Yates permutation of `0..n`.
pub fn permutation(n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays() {
        let total = 100;
        assert!((lr_at(0, total, 1.0, 0.05) - 0.2).abs() < 1e-12);
        assert!((lr_at(4, total, 1.0, 0.05) - 1.0).abs() < 1e-12);
        assert!((lr_at(5, total, 1.0, 0.05) - 1.0).abs() < 1e-12);
        assert!(lr_at(99, total, 1.0, 0.05) < 0.01);
    }

    #[test]
    fn permutation_is_seeded_and_complete() {
        let a = permutation(50, &mut Rng::new(3));
        assert_eq!(a, permutation(50, &mut Rng::new(3)));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<_>>());
    }
}
