//! The inverse of [`crate::export`]: the [`TrajNet`] inside a file that `fewstep-distill`
//! exported, and a teacher training folder rebuilt from a shipped teacher, so that students
//! can be distilled from `models/<scene>/teacher.onnx` without the run that trained it.
//!
//! The weights are read back bit for bit: an exported file's parameter initializers appear in
//! the order of [`weight_order`], named by [`WEIGHT_HINTS`].

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};
use candle_nn::VarMap;
use fewstep::onnx::pb;

use crate::export::{WEIGHT_HINTS, config_of, weight_order};
use crate::fit::{CheckpointMeta, paths};
use crate::model::{TrajNet, names_and_shapes};

/// The writer's hint of an initializer name `<hint>_<counter>`.
fn hint(name: &str) -> Option<&str> {
    let (h, n) = name.rsplit_once('_')?;
    n.parse::<u64>().ok().map(|_| h)
}

/// The f32 values of an initializer (raw little-endian bytes or `float_data`).
fn floats(t: &pb::TensorProto) -> Result<Vec<f32>, String> {
    if t.data_type != pb::tensor_proto::DataType::Float as i32 {
        return Err(format!(
            "initializer {} is not f32 (ONNX data type {}); only f32 exports can be imported",
            t.name, t.data_type
        ));
    }
    if !t.raw_data.is_empty() {
        if !t.raw_data.len().is_multiple_of(4) {
            return Err(format!("initializer {}: truncated raw data", t.name));
        }
        return Ok(t
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    Ok(t.float_data.clone())
}

/// The network of an exported file: its config (from the file's metadata) and its weights.
pub fn from_onnx(bytes: &[u8]) -> Result<TrajNet, String> {
    let proto = fewstep::onnx::decode(bytes).map_err(|e| e.to_string())?;
    let config = config_of(&proto).ok_or(
        "the file has no fewstep-distill network config: only files that fewstep-distill \
         exported can be imported",
    )?;
    let graph = proto.graph.as_ref().ok_or("the file has no graph")?;
    let weights: Vec<&pb::TensorProto> = graph
        .initializer
        .iter()
        .filter(|t| hint(&t.name).is_some_and(|h| WEIGHT_HINTS.contains(&h)))
        .collect();
    let order = weight_order(&config)?;
    if weights.len() != order.len() {
        return Err(format!(
            "the file holds {} weight initializers, its config ({} layers, d_model {}) needs {}",
            weights.len(),
            config.layers,
            config.d_model,
            order.len()
        ));
    }
    let shapes: BTreeMap<String, Vec<usize>> = names_and_shapes(&config).into_iter().collect();
    let varmap = VarMap::new();
    {
        let mut data = varmap.data().lock().expect("varmap lock");
        for (name, t) in order.iter().zip(weights) {
            let shape = &shapes[name];
            let dims: Vec<usize> = t.dims.iter().map(|&d| d as usize).collect();
            let v = floats(t)?;
            if dims != *shape || v.len() != shape.iter().product::<usize>() {
                return Err(format!(
                    "initializer {} ({dims:?}, {} values) does not fit parameter {name} {shape:?}",
                    t.name,
                    v.len()
                ));
            }
            if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
                return Err(format!("parameter {name} holds a non-finite value ({bad})"));
            }
            let ts =
                Tensor::from_vec(v, shape.as_slice(), &Device::Cpu).map_err(|e| e.to_string())?;
            data.insert(
                name.clone(),
                Var::from_tensor(&ts).map_err(|e| e.to_string())?,
            );
        }
    }
    TrajNet::with_varmap(config, varmap)
}

/// [`from_onnx`] of the file at `path`; errors name the file.
pub fn from_file(path: &Path) -> Result<TrajNet, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    from_onnx(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a teacher training folder at `out` from the exported teacher `model`: its weights
/// as the `best` checkpoint's EMA weights (all that students read), the sidecar with the card's
/// `future_scale`, and the file itself as `teacher.onnx`. `train student --teacher OUT` then
/// distils exactly that teacher.
pub fn teacher_folder(model: &Path, out: &Path, command: &str) -> Result<(), String> {
    let bytes = std::fs::read(model).map_err(|e| format!("{}: {e}", model.display()))?;
    let net = from_onnx(&bytes).map_err(|e| format!("{}: {e}", model.display()))?;
    if net.config.kind != crate::model::NetKind::Velocity {
        return Err(format!(
            "{}: a generator, not a velocity teacher",
            model.display()
        ));
    }
    let parsed = fewstep::Model::from_bytes(&bytes).map_err(|e| e.to_string())?;
    let card = parsed
        .card()
        .ok_or_else(|| format!("{}: the file has no card", model.display()))?;
    let future_scale = card
        .normalization
        .get("future_scale")
        .and_then(|v| v.as_f64())
        .ok_or_else(|| {
            format!(
                "{}: the card has no normalization.future_scale",
                model.display()
            )
        })? as f32;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let [_, e, _, _, j] = paths(out, "best");
    net.varmap
        .save(&e)
        .map_err(|err| format!("{}: {err}", e.display()))?;
    let args = serde_json::json!({ "imported_from": model.display().to_string(),
                                   "provenance": card.provenance });
    let meta = CheckpointMeta::fresh(net.config.clone(), future_scale, args, command);
    let json = serde_json::to_string_pretty(&meta).map_err(|e| e.to_string())?;
    std::fs::write(&j, json).map_err(|err| format!("{}: {err}", j.display()))?;
    let dst = out.join("teacher.onnx");
    std::fs::write(&dst, &bytes).map_err(|err| format!("{}: {err}", dst.display()))?;
    Ok(())
}
