//! A session binds its dims on the graph the model parsed once at load
//! (`onnx::read::bind_dims`) instead of parsing the file again with the dims as input facts. The
//! reference is that second parse: for every shipped model and every fixture family, at several
//! batch sizes, both give the same lowered graph, node for node and value for value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fewstep::Model;
use fewstep::onnx::read::{bind_dims, parse_typed};
use fewstep::onnx::write::encode;
use fewstep::onnx::{decode, pb};
use fewstep::testing::{BlockShape, MlpShape};
use fewstep::{ir, testing};

const BATCHES: [usize; 4] = [1, 2, 5, 64];

fn lowered(typed: &tract_core::prelude::TypedModel) -> Live {
    let mut g = ir::lower::lower(typed).expect("lowers");
    ir::fuse::fuse(&mut g);
    live(&g)
}

/// A lowered graph's live part, its values numbered in order of first use: the graph inputs,
/// then each node's inputs and output. Values no node, input or output refers to (constants
/// that fusion folded into a node, intermediate results of the ops it fused) are left out: they
/// are numbered apart in each graph, and nothing reads them. Names are left out too: tract
/// numbers the nodes it splits in the order it meets them, which differs between the two.
#[derive(Debug, PartialEq)]
struct Live {
    nodes: Vec<(String, Vec<usize>, usize)>,
    values: Vec<(Vec<usize>, LiveStorage)>,
    outputs: Vec<usize>,
}

#[derive(Debug, PartialEq)]
enum LiveStorage {
    Input(usize),
    Const(Vec<u32>),
    Activation,
    Alias(usize),
}

fn live(g: &ir::Graph) -> Live {
    let mut number = vec![None; g.values.len()];
    let mut order = Vec::new();
    let mut visit = |v: usize, order: &mut Vec<usize>| -> usize {
        *number[v].get_or_insert_with(|| {
            order.push(v);
            order.len() - 1
        })
    };
    for &v in &g.inputs {
        visit(v, &mut order);
    }
    let mut nodes = Vec::new();
    for n in &g.nodes {
        let inputs = n.inputs.iter().map(|&v| visit(v, &mut order)).collect();
        let output = visit(n.output, &mut order);
        nodes.push((format!("{:?}", n.op), inputs, output));
    }
    let outputs = g.outputs.iter().map(|&v| visit(v, &mut order)).collect();
    // an alias names the value it reads, which is then live too
    let mut values = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let v = &g.values[order[i]];
        let storage = match &v.storage {
            ir::Storage::Input(k) => LiveStorage::Input(*k),
            ir::Storage::Const(c) => LiveStorage::Const(c.iter().map(|x| x.to_bits()).collect()),
            ir::Storage::Activation => LiveStorage::Activation,
            ir::Storage::Alias(r) => LiveStorage::Alias(visit(*r, &mut order)),
        };
        values.push((v.shape.clone(), storage));
        i += 1;
    }
    Live {
        nodes,
        values,
        outputs,
    }
}

/// Where two live graphs first differ, without printing their weights.
fn first_difference(a: &Live, b: &Live) -> String {
    for (i, (x, y)) in a.nodes.iter().zip(&b.nodes).enumerate() {
        if x != y {
            return format!("node {i}: bound {x:?}, reference {y:?}");
        }
    }
    for (i, (x, y)) in a.values.iter().zip(&b.values).enumerate() {
        if x != y {
            let shapes_differ = x.0 != y.0;
            return format!(
                "value {i}: bound {:?}, reference {:?}{}",
                x.0,
                y.0,
                if shapes_differ {
                    ""
                } else {
                    " (their data differ)"
                }
            );
        }
    }
    format!(
        "{} / {} nodes, {} / {} values, outputs {:?} / {:?}",
        a.nodes.len(),
        b.nodes.len(),
        a.values.len(),
        b.values.len(),
        a.outputs,
        b.outputs
    )
}

/// Compares both ways of binding at every batch size; returns how many graphs were compared.
fn check(name: &str, proto: &pb::ModelProto) -> usize {
    let symbols = Model::from_bytes(&encode(proto)).expect("loads").symbols();
    let unbound = parse_typed(proto, None).expect("parses without dims");
    for n in BATCHES {
        let dims: BTreeMap<String, usize> = symbols.iter().map(|s| (s.clone(), n)).collect();
        let reference = lowered(&parse_typed(proto, Some(&dims)).expect("parses with dims"));
        let bound = lowered(&bind_dims(&unbound, &dims).expect("binds"));
        assert!(
            !reference.nodes.is_empty(),
            "{name}: an empty graph compares equal to anything"
        );
        assert!(
            bound == reference,
            "{name} at {dims:?}: {}",
            first_difference(&bound, &reference)
        );
    }
    BATCHES.len()
}

fn onnx_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("models/ is readable") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            onnx_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "onnx") {
            out.push(path);
        }
    }
}

#[test]
fn every_shipped_model_binds_as_a_fresh_parse_does() {
    let mut files = Vec::new();
    onnx_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("models"),
        &mut files,
    );
    files.sort();
    // at least the five folds' teacher, reflow, mdt and imle, and the toy model
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for scene in ["eth", "hotel", "univ", "zara1", "zara2"] {
        for net in ["teacher", "reflow", "mdt", "imle"] {
            let want = root.join(scene).join(format!("{net}.onnx"));
            assert!(
                files.contains(&want),
                "{} is not among {files:?}",
                want.display()
            );
        }
    }
    assert!(files.contains(&root.join("toy-velocity.onnx")));
    for f in &files {
        let proto = decode(&std::fs::read(f).expect("reads")).expect("decodes");
        check(&f.display().to_string(), &proto);
    }
}

#[test]
fn every_fixture_family_binds_as_a_fresh_parse_does() {
    let block = BlockShape::default();
    let fixtures = [
        (
            "mlp_velocity",
            testing::mlp_velocity(1, MlpShape::default(), 2),
        ),
        ("whole_time_velocity", testing::whole_time_velocity(2, true)),
        (
            "transformer_velocity",
            testing::transformer_velocity(3, block, 2),
        ),
        ("mlp_generator", testing::mlp_generator(4, 24, 16, 64)),
        (
            "trajectory_velocity",
            testing::trajectory_velocity(5, 32, 2),
        ),
    ];
    for (name, proto) in &fixtures {
        check(name, proto);
    }
}

/// Two symbols, one of them not the batch: `x [N, T, 8]` through a linear layer, a softmax over
/// `T` and a reshape to `[N, T * 16]` (whose target shape tract computes from the symbols).
#[test]
fn two_symbols_bind_as_a_fresh_parse_does() {
    use fewstep::onnx::{Attr, Dim, GraphBuilder};
    let mut g = GraphBuilder::new("two_symbols");
    let x = g.input(
        "x",
        &[Dim::Sym("N".into()), Dim::Sym("T".into()), Dim::Fixed(8)],
    );
    let w: Vec<f32> = (0..8 * 16)
        .map(|i| ((i * 37) % 11) as f32 * 0.1 - 0.5)
        .collect();
    let b: Vec<f32> = (0..16).map(|i| i as f32 * 0.01).collect();
    let h = g.linear(&x, &w, Some(&b), 8, 16);
    let h = g.node("Relu", &[&h], &[]);
    let h = g.node("Softmax", &[&h], &[Attr::Int("axis", 1)]);
    let shape = g.constant_i64("shape", &[2], &[0, -1]);
    let y = g.node("Reshape", &[&h, &shape], &[]);
    g.node_named("Identity", &[&y], &[], "y");
    g.output("y", &[]);
    let proto = g.finish(None);
    let unbound = parse_typed(&proto, None).expect("parses without dims");
    for (n, t) in [(1, 1), (3, 5), (64, 2)] {
        let dims: BTreeMap<String, usize> = [("N".into(), n), ("T".into(), t)].into();
        let reference = lowered(&parse_typed(&proto, Some(&dims)).expect("parses with dims"));
        let bound = lowered(&bind_dims(&unbound, &dims).expect("binds"));
        assert!(reference.nodes.len() >= 2, "{:?}", reference.nodes);
        assert!(
            bound == reference,
            "{dims:?}: {}",
            first_difference(&bound, &reference)
        );
    }
}

#[test]
fn an_unbound_symbol_is_still_refused_by_name() {
    let model = Model::from_bytes(&encode(&testing::mlp_velocity(1, MlpShape::default(), 2)))
        .expect("loads");
    let err = fewstep::Session::new(&model, fewstep::SessionOptions::default())
        .expect_err("N is not bound");
    assert!(err.to_string().contains("--dim N="), "{err}");
}
