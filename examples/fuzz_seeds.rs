//! Writes the seed inputs of the fuzz targets (fuzz/, see `fewstep::fuzz`) into
//! `DIR/<target>/seed-*`: small valid models and their truncations, cards, scene excerpts in
//! every accepted layout, and C call programs that reach a forecast.
//!
//! `cargo run --release --example fuzz_seeds -- fuzz/corpus`

use std::path::Path;

use fewstep::onnx::{read_card, write::encode};
use fewstep::testing::{self, BlockShape, MlpShape};

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let d = dir.join(target);
    std::fs::create_dir_all(&d)?;
    std::fs::write(d.join(format!("seed-{name}")), bytes)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).ok_or("usage: fuzz_seeds DIR")?;
    let dir = Path::new(&dir);

    let small = MlpShape {
        state: 4,
        cond: 3,
        hidden: 8,
    };
    let block = BlockShape {
        tokens: 3,
        width: 4,
        d_model: 8,
        heads: 2,
        cond: 3,
    };
    let models = [
        ("mlp", testing::mlp_velocity(1, small, 2)),
        ("generator", testing::mlp_generator(2, 4, 3, 8)),
        ("transformer", testing::transformer_velocity(3, block, 1)),
        ("trajectory", testing::trajectory_velocity(4, 8, 1)),
    ];
    for (name, proto) in &models {
        let bytes = encode(proto);
        write(dir, "onnx_model", name, &bytes)?;
        write(
            dir,
            "onnx_model",
            &format!("{name}-half"),
            &bytes[..bytes.len() / 2],
        )?;
        if let Some(card) = read_card(proto)? {
            write(dir, "card_json", name, card.to_json().as_bytes())?;
        }
    }

    let text = std::fs::read_to_string("data/eth_ucy/biwi_hotel.txt")?;
    // 25 frames with up to a handful of agents: enough for windows
    let frames: Vec<&str> = text.lines().take(60).collect();
    write(dir, "scene_file", "tabs", frames.join("\n").as_bytes())?;
    write(dir, "scene_file", "crlf", frames.join("\r\n").as_bytes())?;
    let spaced: Vec<String> = frames.iter().map(|l| l.replace('\t', "  ")).collect();
    write(dir, "scene_file", "spaces", spaced.join("\n").as_bytes())?;
    let ints = "0 1 1.5 2.5\n10 1 1.6 2.6\n10 2 3 4\n20 1 1.7 2.7\n20 2 3.1 4.1\n";
    write(dir, "scene_file", "integers", ints.as_bytes())?;
    // a straight walk of 2 agents over 20 frames: two full windows at frame 0
    let mut walk = String::new();
    for f in 0..20 {
        for a in 1..=2 {
            walk += &format!("{} {a} {} {}\n", f * 10, f as f32 * 0.4, a as f32);
        }
    }
    write(dir, "scene_file", "walk", walk.as_bytes())?;

    // C programs (see `fewstep::ffi::fuzz::c_abi` for the encoding): load, then a session and
    // one sample; load, then a forecaster fed 9 frames of 2 agents, then predict.
    write(dir, "c_abi", "sample", &[0, 0, 2, 1, 0, 3, 3, 0, 0, 0])?;
    // the same session, then a partial batch of 2 of its 3 rows
    write(dir, "c_abi", "batch", &[0, 0, 2, 1, 0, 3, 10, 2, 0, 0, 0])?;
    let mut p = vec![0, 0, 5, 4, 1, 0];
    for f in 0..9u8 {
        // observe: 2 agents, frame +1, ids 0 and 1, xs and ys as ordinary floats, ids not NULL
        p.extend([
            6,
            2,
            1,
            0,
            1,
            2,
            128 + 4 * f,
            2,
            130 + 4 * f,
            2,
            128,
            2,
            140,
            1,
        ]);
    }
    p.extend([7, 3]);
    write(dir, "c_abi", "forecast", &p)?;
    write(dir, "c_abi", "nulls", &[9, 8, 0, 9, 2, 7, 0])?;
    // the sample program with the session's sampler set to one Euler step first: method 0, a
    // grid of 2 times (u8 0 and 255: 0 and 1), no defect, times not NULL, on the session
    write(
        dir,
        "c_abi",
        "sampler",
        &[0, 0, 2, 1, 0, 3, 11, 0, 2, 0, 255, 3, 1, 0, 3, 0, 0, 0],
    )?;
    Ok(())
}
