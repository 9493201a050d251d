//! ONNX reading (through tract-onnx) and writing (tract's prost types). The only protobuf code
//! in fewstep lives here.

pub mod read;
pub mod write;

/// The ONNX protobuf types (tract's prost structs), for tools that read or write files with
/// [`decode`] and [`write::encode`].
pub use tract_onnx::pb;

use crate::card::{Card, METADATA_KEY};
use crate::error::Error;

pub use write::{Attr, Dim, GraphBuilder};

/// Decodes ONNX bytes into the protobuf model. Empty, truncated and garbage input is an error.
pub fn decode(bytes: &[u8]) -> Result<pb::ModelProto, Error> {
    if bytes.is_empty() {
        return Err(Error::BadModel("the file is empty".into()));
    }
    let proto: pb::ModelProto = prost::Message::decode(bytes).map_err(|e| {
        Error::BadModel(format!(
            "protobuf decoding failed ({e}); truncated or not ONNX?"
        ))
    })?;
    if proto.graph.is_none() {
        return Err(Error::BadModel(
            "no graph in the file (not an ONNX model?)".into(),
        ));
    }
    Ok(proto)
}

/// The card stored in the model, if there is one.
pub fn read_card(proto: &pb::ModelProto) -> Result<Option<Card>, Error> {
    match proto.metadata_props.iter().find(|p| p.key == METADATA_KEY) {
        None => Ok(None),
        Some(p) => Card::from_json(&p.value).map(Some),
    }
}
