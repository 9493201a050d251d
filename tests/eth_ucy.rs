//! The scene loader and the standard windows reproduce the published ETH-UCY test-window
//! counts (all agent windows, and after the Social-GAN filter), as listed in
//! data/eth_ucy/SOURCE.md and matching MoFlow's evaluation files.

use std::path::Path;

use fewstep::forecast::{scene, windows::windows};

fn count(files: &[&str], min_agents: usize) -> usize {
    files
        .iter()
        .map(|f| {
            let s = scene::load(
                &Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("data/eth_ucy")
                    .join(f),
            )
            .unwrap();
            assert_eq!(s.frame_step, 10.0, "{f}");
            windows(&s, min_agents).len()
        })
        .sum()
}

#[test]
fn test_window_counts_match_the_published_ones() {
    for (files, all, filtered) in [
        (&["biwi_eth.txt"][..], 364, 181),
        (&["biwi_hotel.txt"], 1197, 1053),
        (&["students001.txt", "students003.txt"], 24334, 24334),
        (&["crowds_zara01.txt"], 2356, 2253),
        (&["crowds_zara02.txt"], 5910, 5833),
    ] {
        assert_eq!(count(files, 1), all, "{files:?} all");
        assert_eq!(count(files, 2), filtered, "{files:?} Social-GAN filter");
    }
}
