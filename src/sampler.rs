//! The few-step sampler: Euler, Heun and midpoint over a time grid, updating the state in place.
//!
//! The sampler is written against [`VelocityField`], so every backend shares it. `t` runs from
//! `times[0]` (noise) to the last entry (data); each step evaluates the network 1 (Euler) or 2
//! (Heun, midpoint) times.

use crate::card::Method;
use crate::error::Error;

/// Something that evaluates `v = f(x, t)` into its own output buffer.
pub trait VelocityField {
    /// Evaluates the field at state `x` and time `t`; the result is read with [`Self::velocity`].
    fn eval(&mut self, x: &[f32], t: f32) -> Result<(), Error>;
    /// The velocity computed by the last `eval`.
    fn velocity(&self) -> &[f32];
}

/// Integrates `x` from `times[0]` to `times[last]` in place. `scratch` must have `x.len()`
/// elements for Heun and midpoint (unused by Euler). Never allocates.
pub fn integrate<F: VelocityField>(
    f: &mut F,
    method: Method,
    times: &[f32],
    x: &mut [f32],
    scratch: &mut [f32],
) -> Result<(), Error> {
    for w in times.windows(2) {
        let (t0, t1) = (w[0], w[1]);
        let dt = t1 - t0;
        match method {
            Method::Euler => {
                f.eval(x, t0)?;
                axpy(x, dt, f.velocity());
            }
            Method::Heun => {
                // predictor x' = x + dt v(x, t0), corrector x += dt/2 (v(x, t0) + v(x', t1))
                f.eval(x, t0)?;
                let v1 = f.velocity();
                for ((s, &xi), &vi) in scratch.iter_mut().zip(x.iter()).zip(v1) {
                    *s = xi + dt * vi;
                }
                for (xi, &vi) in x.iter_mut().zip(v1) {
                    *xi += 0.5 * dt * vi;
                }
                f.eval(scratch, t1)?;
                axpy(x, 0.5 * dt, f.velocity());
            }
            Method::Midpoint => {
                f.eval(x, t0)?;
                for ((s, &xi), &vi) in scratch.iter_mut().zip(x.iter()).zip(f.velocity()) {
                    *s = xi + 0.5 * dt * vi;
                }
                f.eval(scratch, t0 + 0.5 * dt)?;
                axpy(x, dt, f.velocity());
            }
        }
    }
    Ok(())
}

#[inline]
fn axpy(x: &mut [f32], a: f32, v: &[f32]) {
    for (xi, &vi) in x.iter_mut().zip(v) {
        *xi += a * vi;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dx/dt = x: exact solution e^t.
    struct Exp(Vec<f32>);
    impl VelocityField for Exp {
        fn eval(&mut self, x: &[f32], _t: f32) -> Result<(), Error> {
            self.0.copy_from_slice(x);
            Ok(())
        }
        fn velocity(&self) -> &[f32] {
            &self.0
        }
    }

    fn solve(method: Method, steps: usize) -> f32 {
        let times: Vec<f32> = (0..=steps).map(|i| i as f32 / steps as f32).collect();
        let mut x = [1.0f32];
        let mut s = [0.0f32];
        integrate(&mut Exp(vec![0.0]), method, &times, &mut x, &mut s).unwrap();
        x[0]
    }

    #[test]
    fn euler_is_first_order_heun_and_midpoint_second_order() {
        let e = std::f32::consts::E;
        // Euler with n steps gives (1 + 1/n)^n exactly.
        assert!((solve(Method::Euler, 10) - 1.1f32.powi(10)).abs() < 1e-5);
        for m in [Method::Heun, Method::Midpoint] {
            let err10 = (solve(m, 10) - e).abs();
            let err20 = (solve(m, 20) - e).abs();
            // halving the step divides the error by ~4 for a second-order method
            assert!(
                err10 / err20 > 3.5 && err10 / err20 < 4.5,
                "{m:?}: {err10} {err20}"
            );
        }
    }
}
