enable f16;

// Storage for the SHADER_F16 path: activations and matrix weights are f16 in `h`; graph inputs
// and outputs, values that feed `sin`/`cos`, small constants and the sampler's state are f32 in
// `data`. An operand offset with bit 31 set (IN_F32) addresses `data`, any other `h`. Kernels
// compute in f32 either way: only storage is f16.

@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@group(0) @binding(1) var<storage, read_write> h: array<f16>;

const IN_F32: u32 = 0x80000000u;
// The largest finite f16: a store saturates there instead of leaving the f16 range.
const F16_MAX: f32 = 65504.0;

fn load(i: u32) -> f32 {
    if (i >= IN_F32) {
        return data[i - IN_F32];
    }
    return f32(h[i]);
}

fn store(i: u32, v: f32) {
    if (i >= IN_F32) {
        data[i - IN_F32] = v;
    } else {
        h[i] = f16(clamp(v, -F16_MAX, F16_MAX));
    }
}

fn weight(i: u32, packed: bool) -> f32 {
    return load(i);
}
