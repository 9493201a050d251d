// Storage for the f32 paths (no f16, and packed f16 weights): every operand is an f32 of `data`
// (inputs, activations, constants, sampler state; bound once, read-write); f16 matrix weights
// sit two per u32 in `w16`.

@group(0) @binding(0) var<storage, read_write> data: array<f32>;
@group(0) @binding(1) var<storage, read> w16: array<u32>;

fn load(i: u32) -> f32 {
    return data[i];
}

fn store(i: u32, v: f32) {
    data[i] = v;
}

// Element `i` of a linear layer's weight: packed f16 in `w16` when `packed`, else in `data`.
fn weight(i: u32, packed: bool) -> f32 {
    if (packed) {
        let v = unpack2x16float(w16[i >> 1u]);
        if ((i & 1u) == 1u) {
            return v.y;
        }
        return v.x;
    }
    return data[i];
}
