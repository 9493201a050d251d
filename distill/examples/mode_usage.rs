//! Mode diagnostics of a trajectory model on one split of an ETH-UCY fold (Social-GAN filter):
//! minADE/minFDE, how many of the K futures are ever the best one, the windows each wins, and
//! the spread of the K endpoints, through the fewstep runtime with uniform Euler steps.
//!
//! usage: cargo run --release -p fewstep-distill --example mode_usage -- MODEL SCENE STEPS [val|test]
//! (run from the repository root; the split defaults to test)

use std::path::Path;

use fewstep::forecast::eval::{EvalOptions, evaluate};
use fewstep::{Backend, Model};
use fewstep_distill::data::{Split, fold_windows};

fn main() -> Result<(), String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: mode_usage MODEL SCENE STEPS [val|test]";
    let (model, scene, steps) = match a.as_slice() {
        [m, s, n, ..] => (m, s, n.parse::<usize>().map_err(|e| format!("STEPS: {e}"))?),
        _ => return Err(usage.into()),
    };
    let split = match a.get(3).map(String::as_str) {
        None | Some("test") => Split::Test,
        Some("val") => Split::Val,
        Some(o) => return Err(format!("split {o:?}: {usage}")),
    };
    let model = Model::load(Path::new(model)).map_err(|e| e.to_string())?;
    let ws = fold_windows(Path::new("data/eth_ucy"), scene, split, 2)?;
    let opts = EvalOptions {
        backend: Backend::Native,
        steps: Some(steps),
        ..Default::default()
    };
    let r = evaluate(&model, &ws, &opts).map_err(|e| e.to_string())?;
    println!(
        "{} windows: minADE {:.4} minFDE {:.4}, endpoint spread {:.3} m, modes won {}/{}",
        r.windows,
        r.min_ade,
        r.min_fde,
        r.endpoint_spread,
        r.modes_won(),
        r.wins.len()
    );
    println!("wins per mode: {:?}", r.wins);
    Ok(())
}
