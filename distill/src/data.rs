//! ETH-UCY folds (Social-GAN leave-one-scene-out) over the project's deduplicated copy in
//! `data/eth_ucy`, and the conversion of windows into training arrays with the runtime's
//! features (`fewstep::forecast::features`).

use std::path::{Path, PathBuf};

use fewstep::forecast::features::{FUTURE_VALUES, FeatureVersion, future_target};
use fewstep::forecast::windows::{Window, windows};
use fewstep::forecast::{OBS, SEQ, scene};

/// The five scenes, in the usual order.
pub const SCENES: [&str; 5] = ["eth", "hotel", "univ", "zara1", "zara2"];

/// Every recording that has a `_train`/`_val` split.
const RECORDINGS: [&str; 8] = [
    "biwi_eth",
    "biwi_hotel",
    "crowds_zara01",
    "crowds_zara02",
    "crowds_zara03",
    "students001",
    "students003",
    "uni_examples",
];

/// The recordings held out as a scene's test set.
pub fn test_recordings(scene: &str) -> Option<&'static [&'static str]> {
    Some(match scene {
        "eth" => &["biwi_eth"],
        "hotel" => &["biwi_hotel"],
        "univ" => &["students001", "students003"],
        "zara1" => &["crowds_zara01"],
        "zara2" => &["crowds_zara02"],
        _ => return None,
    })
}

/// Which part of a fold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Val,
    Test,
}

/// The files of `scene`'s fold for `split`.
pub fn fold_files(data_dir: &Path, scene: &str, split: Split) -> Result<Vec<PathBuf>, String> {
    let test = test_recordings(scene)
        .ok_or_else(|| format!("unknown scene {scene:?} (one of {SCENES:?})"))?;
    let names: Vec<String> = match split {
        Split::Test => test.iter().map(|r| format!("{r}.txt")).collect(),
        Split::Train | Split::Val => {
            let suffix = if split == Split::Train {
                "train"
            } else {
                "val"
            };
            RECORDINGS
                .iter()
                .filter(|r| !test.contains(r))
                .map(|r| format!("{r}_{suffix}.txt"))
                .collect()
        }
    };
    Ok(names.into_iter().map(|n| data_dir.join(n)).collect())
}

/// The files of `scene`'s fold for `split` with the training scene `holdout` held out whole:
/// `Train` is the fold's training files without `holdout`'s recordings, `Val` is every file of
/// those recordings (their `_train` and `_val` parts), `Test` is the fold's test. A recipe
/// judged on such a validation is judged on a scene the net has never seen, as the test judges
/// it; the fold's own validation split is drawn from the training scenes' recordings.
pub fn holdout_files(
    data_dir: &Path,
    scene: &str,
    holdout: &str,
    split: Split,
) -> Result<Vec<PathBuf>, String> {
    let held = test_recordings(holdout)
        .ok_or_else(|| format!("unknown holdout scene {holdout:?} (one of {SCENES:?})"))?;
    if holdout == scene {
        return Err(format!(
            "--holdout {holdout} is the fold's test scene; hold out one of its training scenes"
        ));
    }
    let files = fold_files(data_dir, scene, split)?;
    Ok(match split {
        Split::Test => files,
        Split::Train => files
            .into_iter()
            .filter(|f| !held.iter().any(|r| is_part_of(f, r)))
            .collect(),
        Split::Val => held
            .iter()
            .flat_map(|r| ["train", "val"].map(|p| data_dir.join(format!("{r}_{p}.txt"))))
            .collect(),
    })
}

/// Whether `file` is `recording`'s `_train` or `_val` part.
fn is_part_of(file: &Path, recording: &str) -> bool {
    file.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n == format!("{recording}_train.txt") || n == format!("{recording}_val.txt")
    })
}

/// All windows of a fold split; `min_agents` 2 is the Social-GAN filter.
pub fn fold_windows(
    data_dir: &Path,
    scene: &str,
    split: Split,
    min_agents: usize,
) -> Result<Vec<Window>, String> {
    windows_of(&fold_files(data_dir, scene, split)?, min_agents)
}

/// The windows of a fold split, one list per file ([`fold_files`]' order): what
/// [`fold_windows`] concatenates.
pub fn fold_file_windows(
    data_dir: &Path,
    scene: &str,
    split: Split,
    min_agents: usize,
) -> Result<Vec<Vec<Window>>, String> {
    fold_files(data_dir, scene, split)?
        .iter()
        .map(|f| file_windows(f, min_agents))
        .collect()
}

/// All windows of a fold split with a training scene held out ([`holdout_files`]).
pub fn holdout_windows(
    data_dir: &Path,
    scene: &str,
    holdout: &str,
    split: Split,
    min_agents: usize,
) -> Result<Vec<Window>, String> {
    windows_of(&holdout_files(data_dir, scene, holdout, split)?, min_agents)
}

fn windows_of(files: &[PathBuf], min_agents: usize) -> Result<Vec<Window>, String> {
    let mut out = Vec::new();
    for f in files {
        out.extend(file_windows(f, min_agents)?);
    }
    Ok(out)
}

fn file_windows(file: &Path, min_agents: usize) -> Result<Vec<Window>, String> {
    let s = scene::load(file).map_err(|e| e.to_string())?;
    Ok(windows(&s, min_agents))
}

/// `w` played backwards: the last 8 of its 20 positions, latest first, become the observed
/// track and the first 12, latest first, its future. The other agents it records belong to its
/// original last observed frame, which is not the reversed window's, so the reversed window
/// records none.
pub fn reversed(w: &Window) -> Window {
    // position `k` of the 20, counted from the window's end
    let from_end = |k: usize| {
        let i = SEQ - 1 - k;
        if i < OBS { w.obs[i] } else { w.fut[i - OBS] }
    };
    Window {
        start: w.start,
        agent: w.agent,
        obs: std::array::from_fn(from_end),
        fut: std::array::from_fn(|k| from_end(OBS + k)),
        neighbours: Vec::new(),
    }
}

/// Windows as flat arrays: conditions `[n, features.cond_len()]` and normalized futures
/// `[n, 24]`.
pub struct Arrays {
    pub n: usize,
    pub cond: Vec<f32>,
    pub future: Vec<f32>,
}

/// Features (in layout `features`) and targets of `ws`: the same code the runtime uses.
pub fn arrays(ws: &[Window], future_scale: f32, features: FeatureVersion) -> Arrays {
    let c = features.cond_len();
    let mut cond = vec![0f32; ws.len() * c];
    let mut future = vec![0f32; ws.len() * FUTURE_VALUES];
    for (i, w) in ws.iter().enumerate() {
        let obs: &[[f32; 2]; OBS] = &w.obs;
        let f = features.write(
            obs,
            w.neighbours.iter().copied(),
            &mut cond[i * c..(i + 1) * c],
        );
        future_target(
            &f,
            &w.fut,
            future_scale,
            &mut future[i * FUTURE_VALUES..(i + 1) * FUTURE_VALUES],
        );
    }
    Arrays {
        n: ws.len(),
        cond,
        future,
    }
}

#[cfg(test)]
mod tests {
    use fewstep::forecast::PRED;
    use fewstep::forecast::features::Neighbour;

    use super::*;

    fn window(track: impl Fn(f32) -> [f32; 2]) -> Window {
        let mut obs = [[0f32; 2]; OBS];
        let mut fut = [[0f32; 2]; PRED];
        for (i, p) in obs.iter_mut().chain(fut.iter_mut()).enumerate() {
            *p = track(i as f32);
        }
        Window {
            start: 3,
            agent: 7.0,
            obs,
            fut,
            neighbours: vec![Neighbour {
                pos: [1.0, 1.0],
                prev: None,
            }],
        }
    }

    #[test]
    fn a_reversed_window_is_the_track_played_backwards() {
        let w = window(|i| [0.4 * i, 0.02 * i * i]);
        let r = reversed(&w);
        let seq: Vec<[f32; 2]> = w.obs.iter().chain(&w.fut).copied().collect();
        for k in 0..OBS {
            assert_eq!(r.obs[k], seq[19 - k]);
        }
        for k in 0..PRED {
            assert_eq!(r.fut[k], seq[11 - k]);
        }
        assert!(r.neighbours.is_empty());
        assert_eq!((r.start, r.agent), (w.start, w.agent));
        let back = reversed(&r);
        assert_eq!((back.obs, back.fut), (w.obs, w.fut));
    }

    /// Walking a straight line at constant speed looks the same in either direction: in the
    /// agent's own frame the reversed window has the forward window's condition and target.
    #[test]
    fn a_straight_walk_reversed_gives_the_same_training_item() {
        let w = window(|i| [2.0 + 0.3 * i, -1.0 + 0.4 * i]);
        for features in [FeatureVersion::V1, FeatureVersion::V2] {
            let (f, r) = (
                arrays(std::slice::from_ref(&w), 10.0, features),
                arrays(&[reversed(&w)], 10.0, features),
            );
            let track = FeatureVersion::V1.cond_len();
            for (a, b) in f.cond[..track].iter().zip(&r.cond[..track]) {
                assert!(
                    (a - b).abs() < 1e-5,
                    "{features:?}: {:?} vs {:?}",
                    f.cond,
                    r.cond
                );
            }
            for (a, b) in f.future.iter().zip(&r.future) {
                assert!((a - b).abs() < 1e-5, "{:?} vs {:?}", f.future, r.future);
            }
        }
        // a curved walk is not symmetric: its reversal is a different item
        let c = window(|i| [0.4 * i, 0.02 * i * i]);
        let (f, r) = (
            arrays(std::slice::from_ref(&c), 10.0, FeatureVersion::V1),
            arrays(&[reversed(&c)], 10.0, FeatureVersion::V1),
        );
        assert!(
            f.future
                .iter()
                .zip(&r.future)
                .any(|(a, b)| (a - b).abs() > 1e-3)
        );
    }
}
