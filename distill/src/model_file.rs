//! Edits to an exported model file that leave what it computes unchanged: the card's metrics
//! and sampler, and initializers that no node reads. Each reads the file, edits the decoded
//! model and writes it back through fewstep's ONNX writer; a refused edit writes nothing.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use fewstep::card::{Prediction, SamplerSpec};
use fewstep::onnx::pb;

use crate::export::config_of;

/// Adds `metrics` to the card stored in the ONNX file at `path` (rewrites the file).
pub fn write_metrics(path: &Path, metrics: &BTreeMap<String, f64>) -> Result<(), String> {
    edit_card(path, |card| {
        card.metrics
            .extend(metrics.iter().map(|(k, v)| (k.clone(), *v)));
        Ok(())
    })
}

/// Sets the sampler in the card of the velocity model at `path` to `sampler` (rewrites the
/// file; the graph and its weights are untouched). The card's own validation applies: at least
/// two finite, strictly increasing times, and no sampler that evaluates a data-predicting net
/// at t = 1 (`fewstep::card::sampler_refusal`: Heun on a grid that ends at 1 for the nets this
/// crate exports, whose cards `edit_card` marks as predicting the data).
pub fn set_sampler(path: &Path, sampler: SamplerSpec) -> Result<(), String> {
    edit_card(path, |card| {
        if card.kind != fewstep::card::Kind::Velocity {
            return Err(format!(
                "{}: a {:?} model has no sampler (one network pass)",
                path.display(),
                card.kind
            ));
        }
        card.sampler = Some(sampler);
        Ok(())
    })
}

/// Rewrites the card stored in the ONNX file at `path` with `edit`; the edited card must
/// validate (its errors name the file), and nothing is written if `edit` or the validation
/// fails. A velocity net this crate exported (its file holds the net config) from before cards
/// had `prediction` gets `prediction: data` on any edit, so that the runtime refuses samplers
/// that evaluate it at t = 1.
fn edit_card(
    path: &Path,
    edit: impl FnOnce(&mut fewstep::Card) -> Result<(), String>,
) -> Result<(), String> {
    edit_model(path, |proto| {
        let exported_here = config_of(proto).is_some();
        let entry = proto
            .metadata_props
            .iter_mut()
            .find(|e| e.key == fewstep::card::METADATA_KEY)
            .ok_or_else(|| format!("{}: no card", path.display()))?;
        let mut card = fewstep::Card::from_json(&entry.value).map_err(|e| e.to_string())?;
        if card.kind == fewstep::card::Kind::Velocity && exported_here {
            // cards exported before `prediction` existed: every velocity net this crate
            // exports predicts the data
            card.prediction.get_or_insert(Prediction::Data);
        }
        edit(&mut card)?;
        card.validate()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        entry.value = card.to_json();
        Ok(true)
    })
}

/// Decodes the ONNX file at `path`, applies `edit` and writes the model back if `edit`
/// returns `Ok(true)`; an error or `Ok(false)` leaves the file untouched.
fn edit_model(
    path: &Path,
    edit: impl FnOnce(&mut pb::ModelProto) -> Result<bool, String>,
) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut proto = fewstep::onnx::decode(&bytes).map_err(|e| e.to_string())?;
    if edit(&mut proto)? {
        std::fs::write(path, fewstep::onnx::write::encode(&proto))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Removes the initializers that no node of the graph reads and that are not graph inputs or
/// outputs (weights left behind by older exports), rewriting the file only if there are any.
/// Returns their names. Graphs with subgraphs (If, Loop) are refused: their nodes may read
/// the outer graph's initializers.
pub fn prune_unused_initializers(path: &Path) -> Result<Vec<String>, String> {
    let mut unused = Vec::new();
    edit_model(path, |proto| {
        let graph = proto
            .graph
            .as_mut()
            .ok_or_else(|| format!("{}: no graph", path.display()))?;
        if graph.node.iter().any(|n| {
            n.attribute
                .iter()
                .any(|a| a.g.is_some() || !a.graphs.is_empty())
        }) {
            return Err(format!(
                "{}: the graph has subgraphs, which this does not handle",
                path.display()
            ));
        }
        let read: HashSet<&str> = graph
            .node
            .iter()
            .flat_map(|n| n.input.iter())
            .chain(graph.input.iter().map(|v| &v.name))
            .chain(graph.output.iter().map(|v| &v.name))
            .map(String::as_str)
            .collect();
        graph.initializer.retain(|t| {
            let keep = read.contains(t.name.as_str());
            if !keep {
                unused.push(t.name.clone());
            }
            keep
        });
        Ok(!unused.is_empty())
    })?;
    Ok(unused)
}
