// Shared by every fewstep kernel, after one of the storage preludes (store_f32.wgsl or
// store_f16.wgsl, which define `load`, `store` and `weight` over bindings 0 and 1): a 256-byte
// block of u32 parameters per dispatch (dynamic offset). Offsets and sizes in the parameters
// count elements. Kernels read and write operands only through `load` and `store`, and compute in
// f32 whatever the storage.

@group(0) @binding(2) var<storage, read> p: array<u32, 64>;

const NONE: u32 = 0xffffffffu;
const WG: u32 = 64u;

fn pf(i: u32) -> f32 {
    return bitcast<f32>(p[i]);
}

// Flat invocation index of a 1-D launch split over (x, y) workgroups of WG threads.
fn flat(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WG + lid;
}

fn sigmoid(x: f32) -> f32 {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    let e = exp(x);
    return e / (1.0 + e);
}

fn tanh_stable(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    if (x < 0.0) {
        return -t;
    }
    return t;
}

// erfc for x >= 0 (Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7).
fn erfc_pos(x: f32) -> f32 {
    let t = 1.0 / (1.0 + 0.5 * x);
    let y = t * exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
        t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
        t * (-0.82215223 + t * 0.17087277)))))))));
    return y;
}

fn erf_approx(x: f32) -> f32 {
    let e = 1.0 - erfc_pos(abs(x));
    if (x < 0.0) {
        return -e;
    }
    return e;
}

// Activation codes (fewstep::gpu::act_code): 0 none, 1 relu, 2 gelu, 3 gelu-tanh, 4 silu,
// 5 tanh, 6 sigmoid.
fn act(x: f32, code: u32) -> f32 {
    switch code {
        case 1u: {
            if (x < 0.0) {
                return 0.0;
            }
            return x;
        }
        case 2u: {
            // 0.5 x erfc(-x / sqrt 2): no cancellation in the negative tail
            let z = -x * 0.70710678118654752;
            var c: f32;
            if (z >= 0.0) {
                c = erfc_pos(z);
            } else {
                c = 2.0 - erfc_pos(-z);
            }
            return 0.5 * x * c;
        }
        case 3u: {
            let u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
            return x * sigmoid(2.0 * u);
        }
        case 4u: {
            return x * sigmoid(x);
        }
        case 5u: {
            return tanh_stable(x);
        }
        case 6u: {
            return sigmoid(x);
        }
        default: {
            return x;
        }
    }
}
