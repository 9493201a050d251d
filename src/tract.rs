//! The tract fallback backend: runs any ONNX graph tract can run, through tract's optimized
//! plan. It allocates on every run (tract's own tensors); `fewstep bench` reports how much.
//!
//! A model file is untrusted input and tract can panic on a malformed graph (fuzzing found a
//! constant Gather index out of range that panics at run time). Every call into tract here is
//! behind `catch_unwind`: a panic while optimizing is `Error::BadModel`, a panic while running
//! is `Error::TractRun` and poisons the engine (its state may be half-written).

use tract_onnx::prelude::*;

use crate::buffers::{probe, zeroed};
use crate::error::Error;

/// A tract plan with its input and output buffers kept between runs.
pub struct TractEngine {
    state: TypedSimpleState,
    shapes: Vec<Vec<usize>>,
    /// Input types after tract's transforms (f16 for an f16 session).
    types: Vec<DatumType>,
    inputs: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
    /// Set when tract panicked during a run: every later run fails.
    poisoned: bool,
}

/// Runs `f`, turning a panic into `err`.
pub(crate) fn no_panic<T>(
    err: impl FnOnce() -> Error,
    f: impl FnOnce() -> Result<T, Error>,
) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| Err(err()))
}

impl std::fmt::Debug for TractEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TractEngine")
            .field("inputs", &self.shapes)
            .finish()
    }
}

fn concrete(model: &TypedModel, o: &OutletId) -> Result<Vec<usize>, Error> {
    let f = model.outlet_fact(*o).map_err(Error::bad_model)?;
    f.shape.as_concrete().map(|s| s.to_vec()).ok_or_else(|| {
        Error::InvalidArgument(format!("symbolic shape {:?}: bind its symbols", f.shape))
    })
}

/// The element count of `shape`, or an error when it overflows.
fn elements(shape: &[usize]) -> Result<usize, Error> {
    crate::buffers::elements(shape)
        .ok_or_else(|| Error::InvalidArgument(format!("shape {shape:?} overflows usize")))
}

impl TractEngine {
    /// Optimizes `model` (decluttered, concrete shapes) into a runnable plan.
    pub fn new(model: TypedModel) -> Result<TractEngine, Error> {
        let shapes = model
            .inputs
            .iter()
            .map(|o| concrete(&model, o))
            .collect::<Result<Vec<_>, _>>()?;
        let outputs = model
            .outputs
            .iter()
            .map(|o| concrete(&model, o).and_then(|s| zeroed(elements(&s)?, "tract output")))
            .collect::<Result<Vec<_>, _>>()?;
        let inputs = shapes
            .iter()
            .map(|s| zeroed(elements(s)?, "tract input"))
            .collect::<Result<Vec<_>, _>>()?;
        // tract allocates its tensors as it runs, where a failure would abort: the largest one
        // must at least be possible now
        let mut largest = 0;
        for node in &model.nodes {
            for o in &node.outputs {
                if let Some(s) = o.fact.shape.as_concrete() {
                    largest = largest.max(elements(s)?.saturating_mul(o.fact.datum_type.size_of()));
                }
            }
        }
        probe::<u8>(largest, "tract's largest tensor")?;
        let types = model
            .inputs
            .iter()
            .map(|o| model.outlet_fact(*o).map(|f| f.datum_type))
            .collect::<TractResult<Vec<_>>>()
            .map_err(Error::bad_model)?;
        let state = no_panic(
            || Error::BadModel("tract panicked while optimizing the graph".into()),
            || {
                model
                    .into_optimized()
                    .and_then(|m| m.into_runnable())
                    .and_then(|p| p.spawn())
                    .map_err(Error::bad_model)
            },
        )?;
        Ok(TractEngine {
            state,
            shapes,
            types,
            inputs,
            outputs,
            poisoned: false,
        })
    }

    pub fn input_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.inputs[i]
    }

    pub fn output(&self, i: usize) -> &[f32] {
        &self.outputs[i]
    }

    /// One forward pass.
    pub fn run(&mut self) -> Result<(), Error> {
        if self.poisoned {
            return Err(Error::TractRun);
        }
        let mut inputs: TVec<TValue> = TVec::new();
        for ((s, d), dt) in self.shapes.iter().zip(&self.inputs).zip(&self.types) {
            let t = Tensor::from_shape(s, d)
                .and_then(|t| t.cast_to_dt(*dt).map(|t| t.into_owned()))
                .map_err(|_| Error::TractRun)?;
            inputs.push(t.into_tvalue());
        }
        let state = &mut self.state;
        let outs =
            match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| state.run(inputs))) {
                Ok(Ok(o)) => o,
                Ok(Err(_)) => return Err(Error::TractRun),
                Err(_) => {
                    // a panic leaves tract's state half-written: refuse every later run
                    self.poisoned = true;
                    return Err(Error::TractRun);
                }
            };
        for (dst, t) in self.outputs.iter_mut().zip(outs.iter()) {
            let t = t.cast_to::<f32>().map_err(|_| Error::TractRun)?;
            let v = t.try_as_plain_ram().map_err(|_| Error::TractRun)?;
            let s = v.as_slice::<f32>().map_err(|_| Error::TractRun)?;
            if s.len() != dst.len() {
                return Err(Error::TractRun);
            }
            dst.copy_from_slice(s);
        }
        Ok(())
    }
}
