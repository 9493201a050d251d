//! Noise seeds on the command line (`fewstep eval --seed`, `fewstep-distill eval --seed`) and
//! how a figure spreads over them.

use fewstep::forecast::eval::{Seeds, Spread, parse_seeds, spread};

#[test]
fn seeds_parse_as_lists_and_ranges() {
    assert_eq!(parse_seeds("0"), Ok(vec![0]));
    assert_eq!(parse_seeds("0-3"), Ok(vec![0, 1, 2, 3]));
    assert_eq!(parse_seeds("7,1-2, 9"), Ok(vec![7, 1, 2, 9]));
    for bad in ["", "x", "-1", "3-1", "1,1", "0-2,2", "0-5000", "1.5"] {
        assert!(parse_seeds(bad).is_err(), "{bad:?} was accepted");
    }
    // the command-line value both binaries take
    assert_eq!("0-2".parse::<Seeds>(), Ok(Seeds(vec![0, 1, 2])));
    assert!("1,1".parse::<Seeds>().is_err());
}

#[test]
fn spread_is_mean_sample_sd_and_range() {
    let s = spread(&[1.0, 2.0, 3.0, 6.0]);
    assert!((s.mean - 3.0).abs() < 1e-12);
    // sample variance: (4 + 1 + 0 + 9) / 3
    assert!((s.sd - (14.0f64 / 3.0).sqrt()).abs() < 1e-12);
    assert_eq!((s.lowest, s.highest), (1.0, 6.0));
    assert_eq!(
        spread(&[0.25]),
        Spread {
            mean: 0.25,
            sd: 0.0,
            lowest: 0.25,
            highest: 0.25
        }
    );
}
