//! ETH-UCY folds (Social-GAN leave-one-scene-out) over the project's deduplicated copy in
//! `data/eth_ucy`, and the conversion of windows into training arrays with the runtime's
//! features (`fewstep::forecast::features`).

use std::path::{Path, PathBuf};

use fewstep::forecast::features::{FUTURE_VALUES, FeatureVersion, future_target};
use fewstep::forecast::windows::{Window, windows};
use fewstep::forecast::{OBS, scene};

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

/// All windows of a fold split; `min_agents` 2 is the Social-GAN filter.
pub fn fold_windows(
    data_dir: &Path,
    scene: &str,
    split: Split,
    min_agents: usize,
) -> Result<Vec<Window>, String> {
    let mut out = Vec::new();
    for f in fold_files(data_dir, scene, split)? {
        let s = scene::load(&f).map_err(|e| e.to_string())?;
        out.extend(windows(&s, min_agents));
    }
    Ok(out)
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
