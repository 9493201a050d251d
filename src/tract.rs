//! The tract fallback backend: runs any ONNX graph tract can run, through tract's optimized
//! plan. It allocates on every run (tract's own tensors); `fewstep bench` reports how much.

use tract_onnx::prelude::*;

use crate::error::Error;

/// A tract plan with its input and output buffers kept between runs.
pub struct TractEngine {
    state: TypedSimpleState,
    shapes: Vec<Vec<usize>>,
    /// Input types after tract's transforms (f16 for an f16 session).
    types: Vec<DatumType>,
    inputs: Vec<Vec<f32>>,
    outputs: Vec<Vec<f32>>,
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
            .map(|o| concrete(&model, o).map(|s| vec![0f32; s.iter().product()]))
            .collect::<Result<Vec<_>, _>>()?;
        let inputs = shapes
            .iter()
            .map(|s| vec![0f32; s.iter().product()])
            .collect();
        let types = model
            .inputs
            .iter()
            .map(|o| model.outlet_fact(*o).map(|f| f.datum_type))
            .collect::<TractResult<Vec<_>>>()
            .map_err(Error::bad_model)?;
        let plan = model
            .into_optimized()
            .and_then(|m| m.into_runnable())
            .map_err(Error::bad_model)?;
        let state = plan.spawn().map_err(Error::bad_model)?;
        Ok(TractEngine {
            state,
            shapes,
            types,
            inputs,
            outputs,
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
        let mut inputs: TVec<TValue> = TVec::new();
        for ((s, d), dt) in self.shapes.iter().zip(&self.inputs).zip(&self.types) {
            let t = Tensor::from_shape(s, d)
                .and_then(|t| t.cast_to_dt(*dt).map(|t| t.into_owned()))
                .map_err(|_| Error::TractRun)?;
            inputs.push(t.into_tvalue());
        }
        let outs = self.state.run(inputs).map_err(|_| Error::TractRun)?;
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
