//! Trajectory features: the single implementation shared by training (`fewstep-distill`) and
//! the device (`Forecaster`), so the two never drift.
//!
//! An agent's observed track is expressed in its own frame: origin at the last observed
//! position, rotated so that the last step (positions 6 → 7) points along +x (if the agent
//! barely moved, the whole observed displacement is used; if that is tiny too, no rotation).
//! The condition is 32 numbers in metres: the 8 observed positions and the 8 steps (the first
//! is 0) in that frame. The future is the 12 positions in that frame divided by
//! `future_scale` (from the model card's normalization).
//!
//! Two layouts exist ([`FeatureVersion`]): V1 is that track alone, and V2 (`-scene`) appends
//! where in the scene the agent is: the last observed position in the scene's own coordinates
//! and the heading's (cos, sin). A V2 model has learned one set of scene frames (a fixed
//! camera or map) and is only meaningful on positions in those frames; V1 models work in any.

use serde::{Deserialize, Serialize};

use super::{OBS, PRED, Point};

/// Number of condition features per agent in the V1 layout (the track alone).
pub const PAST_FEATURES: usize = 4 * OBS;
/// Number of condition features per agent in the V2 layout (track, then scene position and
/// heading).
pub const SCENE_FEATURES: usize = PAST_FEATURES + 4;
/// The most condition features of any layout.
pub const MAX_PAST_FEATURES: usize = SCENE_FEATURES;
/// Number of future values per agent (12 × (x, y)).
pub const FUTURE_VALUES: usize = 2 * PRED;
/// Below this displacement (metres) a heading is considered undefined.
const MIN_HEADING: f32 = 1e-3;

/// The normalization a trajectory model's card carries (`card.normalization`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Feature layout version; this module implements `"fewstep-traj-v1"`.
    pub features: FeatureVersion,
    /// Local future coordinates are divided by this (metres).
    pub future_scale: f32,
}

/// The feature layouts this build implements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum FeatureVersion {
    /// The observed track in the agent's frame ([`PAST_FEATURES`] values).
    #[default]
    #[serde(rename = "fewstep-traj-v1")]
    V1,
    /// V1, then the last observed position in scene coordinates and the heading (cos, sin)
    /// ([`SCENE_FEATURES`] values).
    #[serde(rename = "fewstep-traj-v2-scene")]
    V2,
}

impl FeatureVersion {
    /// Condition values per agent.
    pub const fn cond_len(self) -> usize {
        match self {
            FeatureVersion::V1 => PAST_FEATURES,
            FeatureVersion::V2 => SCENE_FEATURES,
        }
    }

    /// Writes this layout's [`cond_len`](Self::cond_len) condition values of an observed
    /// track into `out` (exactly that long) and returns the track's frame.
    pub fn write(self, obs: &[Point; OBS], out: &mut [f32]) -> Frame {
        debug_assert_eq!(out.len(), self.cond_len());
        let f = past_features(obs, &mut out[..PAST_FEATURES]);
        if self == FeatureVersion::V2 {
            out[PAST_FEATURES..SCENE_FEATURES].copy_from_slice(&[
                f.origin[0],
                f.origin[1],
                f.cos,
                f.sin,
            ]);
        }
        f
    }

    /// The layout's name in model cards.
    pub fn name(self) -> &'static str {
        match self {
            FeatureVersion::V1 => "fewstep-traj-v1",
            FeatureVersion::V2 => "fewstep-traj-v2-scene",
        }
    }
}

/// An agent's local frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Frame {
    pub origin: Point,
    pub cos: f32,
    pub sin: f32,
}

impl Frame {
    /// The frame of an observed track.
    pub fn of(obs: &[Point; OBS]) -> Frame {
        let last = obs[OBS - 1];
        let mut h = [last[0] - obs[OBS - 2][0], last[1] - obs[OBS - 2][1]];
        if h[0].hypot(h[1]) < MIN_HEADING {
            h = [last[0] - obs[0][0], last[1] - obs[0][1]];
        }
        let n = h[0].hypot(h[1]);
        let (cos, sin) = if n < MIN_HEADING {
            (1.0, 0.0)
        } else {
            (h[0] / n, h[1] / n)
        };
        Frame {
            origin: last,
            cos,
            sin,
        }
    }

    /// World → local.
    #[inline]
    pub fn to_local(&self, p: Point) -> Point {
        let (dx, dy) = (p[0] - self.origin[0], p[1] - self.origin[1]);
        [
            self.cos * dx + self.sin * dy,
            -self.sin * dx + self.cos * dy,
        ]
    }

    /// Local → world.
    #[inline]
    pub fn to_world(&self, l: Point) -> Point {
        [
            self.origin[0] + self.cos * l[0] - self.sin * l[1],
            self.origin[1] + self.sin * l[0] + self.cos * l[1],
        ]
    }
}

/// Writes the 32 V1 condition features of an observed track and returns its frame.
pub fn past_features(obs: &[Point; OBS], out: &mut [f32]) -> Frame {
    debug_assert_eq!(out.len(), PAST_FEATURES);
    let f = Frame::of(obs);
    let mut prev = f.to_local(obs[0]);
    for (i, &p) in obs.iter().enumerate() {
        let l = f.to_local(p);
        out[2 * i] = l[0];
        out[2 * i + 1] = l[1];
        out[2 * OBS + 2 * i] = l[0] - prev[0];
        out[2 * OBS + 2 * i + 1] = l[1] - prev[1];
        prev = l;
    }
    f
}

/// The normalized training target of a future track in `frame`.
pub fn future_target(frame: &Frame, fut: &[Point; PRED], scale: f32, out: &mut [f32]) {
    debug_assert_eq!(out.len(), FUTURE_VALUES);
    for (j, &p) in fut.iter().enumerate() {
        let l = frame.to_local(p);
        out[2 * j] = l[0] / scale;
        out[2 * j + 1] = l[1] / scale;
    }
}

/// A model's normalized output (24 values) back to world positions.
pub fn future_world(frame: &Frame, y: &[f32], scale: f32, out: &mut [Point; PRED]) {
    debug_assert_eq!(y.len(), FUTURE_VALUES);
    for (j, o) in out.iter_mut().enumerate() {
        *o = frame.to_world([y[2 * j] * scale, y[2 * j + 1] * scale]);
    }
}

/// The constant-velocity baseline: the last observed step, repeated.
pub fn constant_velocity(obs: &[Point; OBS]) -> [Point; PRED] {
    let last = obs[OBS - 1];
    let v = [last[0] - obs[OBS - 2][0], last[1] - obs[OBS - 2][1]];
    std::array::from_fn(|j| {
        [
            last[0] + v[0] * (j + 1) as f32,
            last[1] + v[1] * (j + 1) as f32,
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn track(angle: f32, shift: Point) -> [Point; OBS] {
        let (s, c) = angle.sin_cos();
        std::array::from_fn(|i| {
            let (x, y) = (0.4 * i as f32, 0.05 * (i as f32).powi(2));
            [shift[0] + c * x - s * y, shift[1] + s * x + c * y]
        })
    }

    #[test]
    fn features_are_invariant_to_rotation_and_translation() {
        let (mut a, mut b) = ([0f32; PAST_FEATURES], [0f32; PAST_FEATURES]);
        past_features(&track(0.0, [0.0, 0.0]), &mut a);
        let f = past_features(&track(2.1, [13.0, -4.0]), &mut b);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-4, "{a:?} vs {b:?}");
        }
        // the last position is the origin, the last step points along +x
        assert_eq!(&b[14..16], &[0.0, 0.0]);
        assert!(b[2 * OBS + 15].abs() < 1e-5 && b[2 * OBS + 14] > 0.0);
        let fut: [Point; PRED] = std::array::from_fn(|j| [j as f32, -2.0 * j as f32]);
        let mut y = [0f32; FUTURE_VALUES];
        future_target(&f, &fut, 5.0, &mut y);
        let mut back = [[0f32; 2]; PRED];
        future_world(&f, &y, 5.0, &mut back);
        for (p, q) in back.iter().zip(&fut) {
            assert!((p[0] - q[0]).abs() < 1e-4 && (p[1] - q[1]).abs() < 1e-4);
        }
    }

    #[test]
    fn a_standing_agent_gets_no_rotation() {
        let f = Frame::of(&[[3.0, 4.0]; OBS]);
        assert_eq!((f.cos, f.sin), (1.0, 0.0));
        assert_eq!(constant_velocity(&[[3.0, 4.0]; OBS])[11], [3.0, 4.0]);
    }

    #[test]
    fn the_scene_layout_appends_position_and_heading_to_the_track() {
        let obs = track(2.1, [13.0, -4.0]);
        let mut v1 = [0f32; PAST_FEATURES];
        let mut v2 = [0f32; SCENE_FEATURES];
        let f1 = FeatureVersion::V1.write(&obs, &mut v1);
        let f2 = FeatureVersion::V2.write(&obs, &mut v2);
        assert_eq!(f1, f2);
        assert_eq!(&v2[..PAST_FEATURES], &v1[..]);
        let (dx, dy) = (
            obs[OBS - 1][0] - obs[OBS - 2][0],
            obs[OBS - 1][1] - obs[OBS - 2][1],
        );
        let n = dx.hypot(dy);
        let want = [obs[OBS - 1][0], obs[OBS - 1][1], dx / n, dy / n];
        for (got, want) in v2[PAST_FEATURES..].iter().zip(want) {
            assert!((got - want).abs() < 1e-5, "{v2:?}");
        }
        assert_eq!(FeatureVersion::V1.cond_len(), 32);
        assert_eq!(FeatureVersion::V2.cond_len(), 36);
        for v in [FeatureVersion::V1, FeatureVersion::V2] {
            let json = serde_json::to_value(v).unwrap();
            assert_eq!(json, serde_json::json!(v.name()));
            assert_eq!(serde_json::from_value::<FeatureVersion>(json).unwrap(), v);
        }
    }
}
