//! Helpers shared by the integration tests.

use std::path::Path;

use candle_core::Tensor;
use fewstep::rng::Rng;
use fewstep_distill::export::{ExportInfo, to_onnx};
use fewstep_distill::model::{NetKind, TrajConfig, TrajNet};

/// Writes a small random net of `kind` to `path` through the exporter (future scale 5, a
/// 10-step sampler for a velocity net); its card names no fold.
#[allow(dead_code)] // not every test binary writes model files
pub fn write_exported(kind: NetKind, path: &Path) {
    let info = ExportInfo {
        steps: 10,
        future_scale: 5.0,
        ..Default::default()
    };
    std::fs::write(
        path,
        to_onnx(&random_net_with(kind, false, 3), &info).unwrap(),
    )
    .unwrap();
}

/// A small net (d = 32, 4 heads, 2 blocks) with random weights everywhere (LayerNorm gains
/// and biases too, so every parameter is exercised).
pub fn random_net_with(kind: NetKind, mode_attention: bool, seed: u64) -> TrajNet {
    random_net(small(kind, mode_attention), seed)
}

/// The config of [`random_net_with`].
pub fn small(kind: NetKind, mode_attention: bool) -> TrajConfig {
    TrajConfig {
        d_model: 32,
        heads: 4,
        layers: 2,
        kind,
        mode_attention,
        ..Default::default()
    }
}

/// A net of config `c` with random weights everywhere.
pub fn random_net(c: TrajConfig, seed: u64) -> TrajNet {
    let net = TrajNet::new(c, seed).unwrap();
    let mut rng = Rng::new(seed + 100);
    for name in net.names() {
        let p = net.param(&name).unwrap();
        let noise: Vec<f32> = (0..p.elem_count()).map(|_| 0.1 * rng.normal()).collect();
        let noise = Tensor::from_vec(noise, p.shape(), p.device()).unwrap();
        let data = net.varmap.data().lock().unwrap();
        data[&name].set(&(p + noise).unwrap()).unwrap();
    }
    net
}
