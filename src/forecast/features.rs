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
//! V3 (`-social`) appends the agent's neighbours instead, in the agent's own frame, so it stays
//! free of any scene frame: the [`NEIGHBOURS`] nearest other agents observed in the same
//! (last observed) frame within [`NEIGHBOUR_RADIUS`] metres, nearest first, each as its
//! position and its last step (zero when it was not observed in the frame before), then one
//! presence flag per neighbour slot (1 or 0; an empty slot is all zeros).

use serde::{Deserialize, Serialize};

use super::{OBS, PRED, Point};

/// Number of condition features per agent in the V1 layout (the track alone).
pub const PAST_FEATURES: usize = 4 * OBS;
/// Number of condition features per agent in the V2 layout (track, then scene position and
/// heading).
pub const SCENE_FEATURES: usize = PAST_FEATURES + 4;
/// Neighbour slots in the V3 layout.
pub const NEIGHBOURS: usize = 4;
/// Only other agents closer than this (metres, at the last observed frame) are neighbours.
pub const NEIGHBOUR_RADIUS: f32 = 6.0;
/// Number of condition features per agent in the V3 layout (track, then per neighbour its
/// local position and step, then the presence flags).
pub const SOCIAL_FEATURES: usize = PAST_FEATURES + 5 * NEIGHBOURS;
/// The most condition features of any layout.
pub const MAX_PAST_FEATURES: usize = SOCIAL_FEATURES;
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
    /// V1, then the nearest neighbours in the agent's frame ([`SOCIAL_FEATURES`] values).
    #[serde(rename = "fewstep-traj-v3-social")]
    V3,
}

/// Another agent observed in the same frame as a forecast agent's last observation: its
/// position then (world coordinates) and, when it was observed in the frame before too, its
/// position there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbour {
    pub pos: Point,
    pub prev: Option<Point>,
}

impl FeatureVersion {
    /// Condition values per agent.
    pub const fn cond_len(self) -> usize {
        match self {
            FeatureVersion::V1 => PAST_FEATURES,
            FeatureVersion::V2 => SCENE_FEATURES,
            FeatureVersion::V3 => SOCIAL_FEATURES,
        }
    }

    /// Writes this layout's [`cond_len`](Self::cond_len) condition values of an observed
    /// track into `out` (exactly that long) and returns the track's frame. `neighbours` are the
    /// other agents of the track's last frame (any order; only V3 reads them). Never
    /// allocates.
    pub fn write(
        self,
        obs: &[Point; OBS],
        neighbours: impl IntoIterator<Item = Neighbour>,
        out: &mut [f32],
    ) -> Frame {
        debug_assert_eq!(out.len(), self.cond_len());
        let f = past_features(obs, &mut out[..PAST_FEATURES]);
        match self {
            FeatureVersion::V1 => {}
            FeatureVersion::V2 => {
                out[PAST_FEATURES..SCENE_FEATURES].copy_from_slice(&[
                    f.origin[0],
                    f.origin[1],
                    f.cos,
                    f.sin,
                ]);
            }
            FeatureVersion::V3 => neighbour_features(&f, neighbours, &mut out[PAST_FEATURES..]),
        }
        f
    }

    /// Reflects a condition of this layout across its agent's heading axis (local y → −y),
    /// as if the world were mirrored: the track and, in V3, the neighbours. A V2 condition's
    /// scene position and heading stay as they are.
    pub fn mirror(self, cond: &mut [f32]) {
        debug_assert_eq!(cond.len(), self.cond_len());
        let local = match self {
            FeatureVersion::V1 | FeatureVersion::V2 => PAST_FEATURES,
            FeatureVersion::V3 => PAST_FEATURES + 4 * NEIGHBOURS,
        };
        mirror_y(&mut cond[..local]);
    }

    /// The layout's name in model cards.
    pub fn name(self) -> &'static str {
        match self {
            FeatureVersion::V1 => "fewstep-traj-v1",
            FeatureVersion::V2 => "fewstep-traj-v2-scene",
            FeatureVersion::V3 => "fewstep-traj-v3-social",
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

/// Writes the V3 neighbour block (`5 * NEIGHBOURS` values) of an agent with frame `f`: the
/// nearest `NEIGHBOURS` of `others` within `NEIGHBOUR_RADIUS` (ties broken by local position,
/// so the order of `others` does not matter; one exactly at the agent's position, such as the
/// agent itself, or at a non-finite one is skipped), as local (x, y, step x, step y), then
/// their presence flags.
pub fn neighbour_features(f: &Frame, others: impl IntoIterator<Item = Neighbour>, out: &mut [f32]) {
    debug_assert_eq!(out.len(), 5 * NEIGHBOURS);
    // (distance², local position, local step), nearest first
    let mut best = [(f32::INFINITY, [0f32; 2], [0f32; 2]); NEIGHBOURS];
    let mut n = 0;
    let r2 = NEIGHBOUR_RADIUS * NEIGHBOUR_RADIUS;
    for o in others {
        let l = f.to_local(o.pos);
        let d2 = l[0] * l[0] + l[1] * l[1];
        if !(d2 > 0.0 && d2 < r2) {
            continue;
        }
        let step = match o.prev {
            Some(p) => {
                let lp = f.to_local(p);
                [l[0] - lp[0], l[1] - lp[1]]
            }
            None => [0.0; 2],
        };
        let key = (d2, l[0], l[1]);
        let at = best[..n]
            .iter()
            .position(|b| key < (b.0, b.1[0], b.1[1]))
            .unwrap_or(n);
        if at == NEIGHBOURS {
            continue;
        }
        let end = (n + 1).min(NEIGHBOURS);
        best.copy_within(at..end - 1, at + 1);
        best[at] = (d2, l, step);
        n = end;
    }
    out.fill(0.0);
    for (j, b) in best[..n].iter().enumerate() {
        out[4 * j..4 * j + 4].copy_from_slice(&[b.1[0], b.1[1], b.2[0], b.2[1]]);
        out[4 * NEIGHBOURS + j] = 1.0;
    }
}

/// Reflects interleaved (x, y) values across the local x axis (the agent's heading): every y
/// is negated. The track part of a condition and a future target are laid out that way.
pub fn mirror_y(v: &mut [f32]) {
    v.iter_mut().skip(1).step_by(2).for_each(|y| *y = -*y);
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
        let f1 = FeatureVersion::V1.write(&obs, [], &mut v1);
        let f2 = FeatureVersion::V2.write(&obs, [], &mut v2);
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
        assert_eq!(FeatureVersion::V3.cond_len(), 52);
        for v in [FeatureVersion::V1, FeatureVersion::V2, FeatureVersion::V3] {
            let json = serde_json::to_value(v).unwrap();
            assert_eq!(json, serde_json::json!(v.name()));
            assert_eq!(serde_json::from_value::<FeatureVersion>(json).unwrap(), v);
        }
    }

    /// A neighbour `at` (local metres) of the agent of `obs` whose last step is `step`, in
    /// world coordinates.
    fn neighbour(obs: &[Point; OBS], at: Point, step: Option<Point>) -> Neighbour {
        let f = Frame::of(obs);
        let pos = f.to_world(at);
        Neighbour {
            pos,
            prev: step.map(|s| f.to_world([at[0] - s[0], at[1] - s[1]])),
        }
    }

    #[test]
    fn the_social_layout_keeps_the_nearest_neighbours_in_the_agents_frame() {
        let obs = track(2.1, [13.0, -4.0]);
        let others = [
            neighbour(&obs, [3.0, 0.0], Some([0.4, 0.0])),   // 3 m
            neighbour(&obs, [0.0, -1.0], None),              // 1 m, not seen the frame before
            neighbour(&obs, [7.0, 0.0], Some([0.1, 0.1])),   // outside the radius
            neighbour(&obs, [-2.0, 2.0], Some([0.0, -0.3])), // 2.83 m
            neighbour(&obs, [0.0, 4.0], Some([0.2, 0.2])),   // 4 m
            neighbour(&obs, [5.0, 0.5], Some([0.2, 0.2])),   // 5.02 m: the fifth, dropped
            neighbour(&obs, [0.0, 0.0], Some([0.2, 0.2])),   // the agent itself
        ];
        let want: [f32; 5 * NEIGHBOURS] = [
            0.0, -1.0, 0.0, 0.0, //
            -2.0, 2.0, 0.0, -0.3, //
            3.0, 0.0, 0.4, 0.0, //
            0.0, 4.0, 0.2, 0.2, //
            1.0, 1.0, 1.0, 1.0,
        ];
        let mut v1 = [0f32; PAST_FEATURES];
        FeatureVersion::V1.write(&obs, others, &mut v1);
        // any order of the others gives the same condition
        for rev in [false, true] {
            let mut v3 = [9f32; SOCIAL_FEATURES];
            let mut o = others;
            if rev {
                o.reverse();
            }
            let f = FeatureVersion::V3.write(&obs, o, &mut v3);
            assert_eq!(f, Frame::of(&obs));
            assert_eq!(&v3[..PAST_FEATURES], &v1[..]);
            for (got, want) in v3[PAST_FEATURES..].iter().zip(want) {
                assert!((got - want).abs() < 1e-4, "{:?}", &v3[PAST_FEATURES..]);
            }
        }
        // fewer neighbours than slots: the rest is zero, flags included
        let mut v3 = [9f32; SOCIAL_FEATURES];
        FeatureVersion::V3.write(&obs, [others[0]], &mut v3);
        let tail = &v3[PAST_FEATURES..];
        assert!((tail[0] - 3.0).abs() < 1e-4 && tail[4 * NEIGHBOURS] == 1.0);
        assert!(tail[4..4 * NEIGHBOURS].iter().all(|&v| v == 0.0));
        assert!(tail[4 * NEIGHBOURS + 1..].iter().all(|&v| v == 0.0));
    }

    #[test]
    fn mirroring_a_condition_is_mirroring_the_world() {
        let obs = track(0.7, [1.0, 2.0]);
        let flip = |p: Point| [p[0], -p[1]];
        let obs_m: [Point; OBS] = std::array::from_fn(|i| flip(obs[i]));
        let others = [
            neighbour(&obs, [1.0, 2.0], Some([0.3, 0.1])),
            neighbour(&obs, [-1.5, -0.5], None),
        ];
        let others_m = others.map(|n| Neighbour {
            pos: flip(n.pos),
            prev: n.prev.map(flip),
        });
        for v in [FeatureVersion::V1, FeatureVersion::V2, FeatureVersion::V3] {
            let (mut a, mut b) = ([0f32; MAX_PAST_FEATURES], [0f32; MAX_PAST_FEATURES]);
            let c = v.cond_len();
            v.write(&obs, others, &mut a[..c]);
            v.write(&obs_m, others_m, &mut b[..c]);
            v.mirror(&mut a[..c]);
            // V2's scene part is the world's, which mirroring the condition leaves alone
            let local = if v == FeatureVersion::V2 {
                PAST_FEATURES
            } else {
                c
            };
            for (x, y) in a[..local].iter().zip(&b[..local]) {
                assert!((x - y).abs() < 1e-5, "{v:?}: {a:?} vs {b:?}");
            }
            assert!(a[..c].iter().skip(1).step_by(2).any(|y| y.abs() > 0.1));
        }
    }
}
