// Broadcasting binary ops, broadcast copies and transposes (a strided gather), and unary ops.

// p: 0 kind (0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min, 6 pow, 7 copy of a), 1 rank, 2 total,
// 3 a, 4 b, 5 y, 6.. shape[8], 14.. strides of a[8], 22.. strides of b[8].
@compute @workgroup_size(64)
fn binary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let idx = flat(wg, nwg, lid);
    if (idx >= p[2]) {
        return;
    }
    var rest = idx;
    var oa = p[3];
    var ob = p[4];
    for (var d = i32(p[1]) - 1; d >= 0; d--) {
        let len = p[6u + u32(d)];
        let c = rest % len;
        rest = rest / len;
        oa += c * p[14u + u32(d)];
        ob += c * p[22u + u32(d)];
    }
    let a = load(oa);
    var y: f32;
    switch p[0] {
        case 0u: { y = a + load(ob); }
        case 1u: { y = a - load(ob); }
        case 2u: { y = a * load(ob); }
        case 3u: { y = a / load(ob); }
        case 4u: {
            let b = load(ob);
            // as f32::max: a NaN operand yields the other
            if (a != a) { y = b; } else if (b != b) { y = a; } else { y = max(a, b); }
        }
        case 5u: {
            let b = load(ob);
            if (a != a) { y = b; } else if (b != b) { y = a; } else { y = min(a, b); }
        }
        case 6u: { y = pow_full(a, load(ob)); }
        default: { y = a; }
    }
    store(p[5] + idx, y);
}

// powf over the whole real line: a negative base with an integral exponent keeps its sign rule.
fn pow_full(a: f32, b: f32) -> f32 {
    if (b == 0.0) {
        return 1.0;
    }
    if (a >= 0.0) {
        return pow(a, b);
    }
    if (floor(b) != b) {
        return bitcast<f32>(0x7fc00000u);
    }
    let r = pow(-a, b);
    if (fract(b * 0.5) != 0.0) {
        return -r;
    }
    return r;
}

// p: 0 code (0..6 as `act`, 7 neg, 8 abs, 9 exp, 10 sqrt, 11 recip, 12 sin, 13 cos, 14 erf,
// 15 square, 16 rsqrt, 17 ln), 1 n, 2 x, 3 y.
@compute @workgroup_size(64)
fn unary(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
         @builtin(local_invocation_index) lid: u32) {
    let idx = flat(wg, nwg, lid);
    if (idx >= p[1]) {
        return;
    }
    let x = load(p[2] + idx);
    var y: f32;
    switch p[0] {
        case 7u: { y = -x; }
        case 8u: { y = abs(x); }
        case 9u: { y = exp(x); }
        case 10u: { y = sqrt(x); }
        case 11u: { y = 1.0 / x; }
        case 12u: { y = sin(x); }
        case 13u: { y = cos(x); }
        case 14u: { y = erf_approx(x); }
        case 15u: { y = x * x; }
        case 16u: { y = 1.0 / sqrt(x); }
        case 17u: { y = log(x); }
        default: { y = act(x, p[0]); }
    }
    store(p[3] + idx, y);
}
