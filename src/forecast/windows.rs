//! Standard windows: 20 consecutive distinct frames (stride 1); an agent contributes a window
//! when it is observed in all 20 frames. This matches Social-GAN's data loader, which (like
//! here) does not check frame ids for gaps.
//!
//! The Social-GAN test filter keeps only windows whose frames hold at least two such agents
//! (`min_agents = 2`); `min_agents = 1` keeps every agent window.
//!
//! Each window also records the other agents of its last observed frame (complete or not),
//! which the social feature layout reads: exactly what a streaming [`Forecaster`] sees then.
//!
//! [`Forecaster`]: super::Forecaster

use std::collections::HashMap;

use super::features::Neighbour;
use super::scene::Scene;
use super::{OBS, PRED, Point, SEQ};

/// One agent's 20-frame window.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Index into `Scene::frames` of the first frame.
    pub start: usize,
    pub agent: f64,
    pub obs: [Point; OBS],
    pub fut: [Point; PRED],
    /// Every other agent observed in the window's last observed frame (in file order).
    pub neighbours: Vec<Neighbour>,
}

/// All agent windows of `scene` whose window holds at least `min_agents` complete agents.
pub fn windows(scene: &Scene, min_agents: usize) -> Vec<Window> {
    let ranges = scene.frame_ranges();
    let per_frame: Vec<HashMap<u64, Point>> = ranges
        .iter()
        .map(|r| {
            scene.rows[r.clone()]
                .iter()
                .map(|row| (row.agent.to_bits(), [row.x, row.y]))
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    if per_frame.len() < SEQ {
        return out;
    }
    for start in 0..=per_frame.len() - SEQ {
        let mut complete: Vec<(f64, [Point; SEQ])> = Vec::new();
        for row in &scene.rows[ranges[start].clone()] {
            let key = row.agent.to_bits();
            let mut track = [[0f32; 2]; SEQ];
            let full = (0..SEQ).all(|j| match per_frame[start + j].get(&key) {
                Some(p) => {
                    track[j] = *p;
                    true
                }
                None => false,
            });
            if full {
                complete.push((row.agent, track));
            }
        }
        if complete.len() >= min_agents.max(1) {
            let last = start + OBS - 1;
            let present: Vec<(u64, Neighbour)> = scene.rows[ranges[last].clone()]
                .iter()
                .map(|row| {
                    let key = row.agent.to_bits();
                    let prev = per_frame[last - 1].get(&key).copied();
                    (
                        key,
                        Neighbour {
                            pos: [row.x, row.y],
                            prev,
                        },
                    )
                })
                .collect();
            for (agent, track) in complete {
                let mut obs = [[0f32; 2]; OBS];
                let mut fut = [[0f32; 2]; PRED];
                obs.copy_from_slice(&track[..OBS]);
                fut.copy_from_slice(&track[OBS..]);
                let me = agent.to_bits();
                let neighbours = present
                    .iter()
                    .filter(|(key, _)| *key != me)
                    .map(|&(_, n)| n)
                    .collect();
                out.push(Window {
                    start,
                    agent,
                    obs,
                    fut,
                    neighbours,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::scene::parse;

    #[test]
    fn complete_agents_only_and_the_sgan_filter() {
        let mut text = String::new();
        for f in 0..21 {
            text += &format!("{} 1 {} 0\n", f * 10, f);
            if f != 6 {
                text += &format!("{} 2 0 {}\n", f * 10, f); // agent 2 misses frame 6
            }
            if f >= 1 {
                text += &format!("{} 3 1 {}\n", f * 10, f);
            }
        }
        let s = parse(&text, "t").unwrap();
        let all = windows(&s, 1);
        // 2 windows (starts 0 and 1); agent 1 in both, agent 3 only in the second
        assert_eq!(
            all.iter().map(|w| (w.start, w.agent)).collect::<Vec<_>>(),
            vec![(0, 1.0), (1, 1.0), (1, 3.0)]
        );
        assert_eq!(all[0].obs[7], [7.0, 0.0]);
        assert_eq!(all[0].fut[11], [19.0, 0.0]);
        // the others of the last observed frame (7), complete or not, with their previous
        // position where they were seen in frame 6
        assert_eq!(
            all[0].neighbours,
            vec![
                Neighbour {
                    pos: [0.0, 7.0],
                    prev: None
                },
                Neighbour {
                    pos: [1.0, 7.0],
                    prev: Some([1.0, 6.0])
                },
            ]
        );
        assert_eq!(all[2].neighbours.len(), 2);
        assert!(all[2].neighbours.iter().all(|n| n.pos != all[2].obs[7]));
        let filtered = windows(&s, 2);
        assert_eq!(
            filtered
                .iter()
                .map(|w| (w.start, w.agent))
                .collect::<Vec<_>>(),
            vec![(1, 1.0), (1, 3.0)]
        );
    }
}
