//! The binary end to end: the shipped model on the bundled ETH scene, and its error paths.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn display(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fewstep-display"))
        .args(args)
        .output()
        .expect("the binary runs")
}

/// Decodes an 8-bit RGB PNG: (width, height, pixels).
fn decode(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let mut reader = png::Decoder::new(file).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    let px = buf[..info.buffer_size()]
        .chunks_exact(3)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    (info.width, info.height, px)
}

#[test]
fn shipped_model_on_eth_writes_frames_and_contact_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let out = display(&[
        "--model".as_ref(),
        repo("models/eth/reflow.onnx").as_os_str(),
        "--scene".as_ref(),
        repo("data/eth_ucy/biwi_eth.txt").as_os_str(),
        "--out".as_ref(),
        dir.path().as_os_str(),
        "--frames".as_ref(),
        "30".as_ref(),
        "--every".as_ref(),
        "10".as_ref(),
        "--steps".as_ref(),
        "4".as_ref(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("summary: 30 frames"), "{stdout}");

    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "contact-sheet.png",
            "frame-00000.png",
            "frame-00010.png",
            "frame-00020.png"
        ]
    );
    let mut colours_at_20 = 0;
    for name in ["frame-00000.png", "frame-00010.png", "frame-00020.png"] {
        let (w, h, px) = decode(&dir.path().join(name));
        assert_eq!((w, h), (320, 240), "{name}");
        let distinct: HashSet<[u8; 3]> = px.into_iter().collect();
        assert!(distinct.len() > 1, "{name}: nothing drawn");
        colours_at_20 = distinct.len();
    }
    // by frame 20 agents have 8 observations: tracks, dots, futures and the HUD
    assert!(colours_at_20 > 4, "frame 20 has {colours_at_20} colours");
    assert!(stdout.contains("frame 20 (id "), "{stdout}");

    let (w, h, px) = decode(&dir.path().join("contact-sheet.png"));
    assert_eq!((w, h), (1280, 720));
    // the first tile is frame 0 as written
    let (_, _, first) = decode(&dir.path().join("frame-00000.png"));
    for y in 0..239 {
        for x in 0..319 {
            assert_eq!(px[y * 1280 + x], first[y * 320 + x], "({x}, {y})");
        }
    }
}

fn assert_clean_failure(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(needle),
        "wanted {needle:?} in: {stderr}"
    );
}

#[test]
fn bad_inputs_fail_with_a_message_and_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let scene = repo("data/eth_ucy/biwi_eth.txt");
    let model = repo("models/eth/reflow.onnx");
    let outdir = dir.path().join("out");
    let run = |m: &Path, s: &Path| {
        display(&[
            "--model".as_ref(),
            m.as_os_str(),
            "--scene".as_ref(),
            s.as_os_str(),
            "--out".as_ref(),
            outdir.as_os_str(),
            "--frames".as_ref(),
            "3".as_ref(),
        ])
    };

    let missing = dir.path().join("missing.onnx");
    assert_clean_failure(&run(&missing, &scene), "missing.onnx");

    let bad_scene = dir.path().join("bad.txt");
    std::fs::write(&bad_scene, "0 1 0.5 1\n0 2 abc 1\n").unwrap();
    assert_clean_failure(&run(&model, &bad_scene), "bad.txt:2:5");

    let toy = repo("models/toy-velocity.onnx");
    assert_clean_failure(&run(&toy, &scene), "not a fewstep trajectory model");

    let garbage = dir.path().join("garbage.onnx");
    std::fs::write(&garbage, b"not onnx at all").unwrap();
    assert_clean_failure(&run(&garbage, &scene), "garbage.onnx");

    // flags are checked by clap (exit 2)
    let out = display(&["--every".as_ref(), "0".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!outdir.exists(), "no output directory for failed runs");
}
