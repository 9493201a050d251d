//! The last [`TRACK_LEN`] observed positions of each agent in view, for drawing.
//!
//! Contract: a track only holds positions from consecutive `observe` calls (an agent that
//! skips a frame starts a new track, as in the forecaster); agents absent from the latest frame
//! are not [`Tracks::current`]. Capacity is fixed at construction and `observe` never allocates.

use fewstep::forecast::OBS;

use crate::error::Error;

/// Positions kept per agent (the model's observation window, 8).
pub const TRACK_LEN: usize = OBS;

#[derive(Debug, Clone, Copy)]
struct Slot {
    agent: f64,
    pts: [[f32; 2]; TRACK_LEN],
    len: usize,
    /// The step at which this slot was last observed; 0 = never (free).
    seen: u64,
}

impl Slot {
    fn push(&mut self, p: [f32; 2], step: u64) {
        if self.len == TRACK_LEN {
            self.pts.copy_within(1.., 0);
            self.len -= 1;
        }
        self.pts[self.len] = p;
        self.len += 1;
        self.seen = step;
    }
}

const FREE: Slot = Slot {
    agent: 0.0,
    pts: [[0.0; 2]; TRACK_LEN],
    len: 0,
    seen: 0,
};

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Tracks {
    slots: Vec<Slot>,
    step: u64,
}

impl Tracks {
    /// Room for `capacity` agents in one frame.
    pub fn with_capacity(capacity: usize) -> Self {
        Tracks {
            slots: vec![FREE; capacity],
            step: 0,
        }
    }

    /// Records one frame's `(agent, x, y)` observations (agent ids distinct).
    pub fn observe(&mut self, obs: &[(f64, f32, f32)]) -> Result<(), Error> {
        if obs.len() > self.slots.len() {
            return Err(Error::new(format!(
                "{} agents in one frame, room for {}",
                obs.len(),
                self.slots.len()
            )));
        }
        self.step += 1;
        let step = self.step;
        // known agents extend (or, after a gap, restart) their track
        for &(a, x, y) in obs {
            if let Some(s) = self.slots.iter_mut().find(|s| s.seen != 0 && s.agent == a) {
                if s.seen + 1 != step {
                    *s = Slot { agent: a, ..FREE };
                }
                s.push([x, y], step);
            }
        }
        // new agents take a slot whose agent is not in this frame
        for &(a, x, y) in obs {
            if self.slots.iter().any(|s| s.seen == step && s.agent == a) {
                continue;
            }
            let s = self
                .slots
                .iter_mut()
                .find(|s| s.seen != step)
                .expect("obs.len() <= capacity leaves a slot");
            *s = Slot { agent: a, ..FREE };
            s.push([x, y], step);
        }
        Ok(())
    }

    /// The track of `agent` if it was observed in the latest frame (oldest first).
    pub fn get(&self, agent: f64) -> Option<&[[f32; 2]]> {
        self.current().find(|t| t.0 == agent).map(|t| t.1)
    }

    /// Every agent of the latest frame with its track (oldest first).
    pub fn current(&self) -> impl Iterator<Item = (f64, &[[f32; 2]])> {
        self.slots
            .iter()
            .filter(|s| s.seen != 0 && s.seen == self.step)
            .map(|s| (s.agent, &s.pts[..s.len]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_positions_and_restarts_after_a_gap() {
        let mut t = Tracks::with_capacity(2);
        for i in 0..10 {
            t.observe(&[(1.0, i as f32, 0.0), (2.0, 0.0, i as f32)])
                .unwrap();
        }
        let a = t.get(1.0).unwrap();
        assert_eq!(a.len(), TRACK_LEN);
        assert_eq!(a[0], [2.0, 0.0]);
        assert_eq!(a[TRACK_LEN - 1], [9.0, 0.0]);
        // agent 2 skips a frame; agent 3 takes a slot
        t.observe(&[(1.0, 10.0, 0.0), (3.0, 5.0, 5.0)]).unwrap();
        assert!(t.get(2.0).is_none());
        assert_eq!(t.get(3.0).unwrap(), &[[5.0, 5.0]]);
        t.observe(&[(1.0, 11.0, 0.0), (3.0, 6.0, 6.0)]).unwrap();
        assert_eq!(t.current().count(), 2);
        // too many agents
        assert!(
            t.observe(&[(1.0, 0.0, 0.0), (2.0, 0.0, 0.0), (4.0, 0.0, 0.0)])
                .is_err()
        );
    }
}
