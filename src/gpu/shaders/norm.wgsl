// Normalizations and reductions, accumulated in f32.

// LayerNorm over rows of d: one workgroup per row, two passes (mean, then variance).
// p: 0 rows, 1 d, 2 x, 3 gamma, 4 beta (NONE: none), 5 y, 6 eps.
var<workgroup> part: array<f32, 64>;

fn wg_sum(v: f32, lid: u32) -> f32 {
    part[lid] = v;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (lid < s) {
            part[lid] += part[lid + s];
        }
        workgroupBarrier();
    }
    let total = part[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(64)
fn layer_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
    let row = wg.y * nwg.x + wg.x;
    let rows = p[0];
    let d = p[1];
    // every invocation of the workgroup takes part in the barriers; rows past the end compute
    // on row 0 and do not store
    var r = row;
    if (row >= rows) {
        r = 0u;
    }
    let x = p[2] + r * d;
    var s = 0.0;
    for (var j = lid; j < d; j += WG) {
        s += load(x + j);
    }
    let mean = wg_sum(s, lid) / f32(d);
    var q = 0.0;
    for (var j = lid; j < d; j += WG) {
        let c = load(x + j) - mean;
        q += c * c;
    }
    let rstd = 1.0 / sqrt(wg_sum(q, lid) / f32(d) + pf(6));
    if (row >= rows) {
        return;
    }
    for (var j = lid; j < d; j += WG) {
        var v = (load(x + j) - mean) * rstd * load(p[3] + j);
        if (p[4] != NONE) {
            v += load(p[4] + j);
        }
        store(p[5] + r * d + j, v);
    }
}

// Around-axis kernels: one invocation per (outer, inner) line of `axis` values.
// p: 0 outer, 1 axis, 2 inner, 3 x, 4 y, 5 reduce kind (0 sum, 1 max, 2 min, 3 mean of squares)
// or eps (rms_norm, as f32 bits).
fn line(wg: vec3<u32>, nwg: vec3<u32>, lid: u32) -> vec2<u32> {
    let idx = flat(wg, nwg, lid);
    let o = idx / p[2];
    let i = idx % p[2];
    return vec2<u32>(idx, o * p[1] * p[2] + i);
}

@compute @workgroup_size(64)
fn softmax(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
           @builtin(local_invocation_index) lid: u32) {
    let l = line(wg, nwg, lid);
    if (l.x >= p[0] * p[2]) {
        return;
    }
    let n = p[1];
    let st = p[2];
    var m = bitcast<f32>(0xff800000u);
    for (var j = 0u; j < n; j++) {
        m = max(m, load(p[3] + l.y + j * st));
    }
    var s = 0.0;
    for (var j = 0u; j < n; j++) {
        let e = exp(load(p[3] + l.y + j * st) - m);
        store(p[4] + l.y + j * st, e);
        s += e;
    }
    let inv = 1.0 / s;
    for (var j = 0u; j < n; j++) {
        store(p[4] + l.y + j * st, load(p[4] + l.y + j * st) * inv);
    }
}

@compute @workgroup_size(64)
fn rms_norm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
    let l = line(wg, nwg, lid);
    if (l.x >= p[0] * p[2]) {
        return;
    }
    let n = p[1];
    let st = p[2];
    var ss = 0.0;
    for (var j = 0u; j < n; j++) {
        let v = load(p[3] + l.y + j * st);
        ss += v * v;
    }
    let scale = 1.0 / sqrt(ss / f32(n) + pf(5));
    for (var j = 0u; j < n; j++) {
        store(p[4] + l.y + j * st, load(p[3] + l.y + j * st) * scale);
    }
}

@compute @workgroup_size(64)
fn reduce(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let l = line(wg, nwg, lid);
    if (l.x >= p[0] * p[2]) {
        return;
    }
    let n = p[1];
    let st = p[2];
    let kind = p[5];
    var acc = 0.0;
    if (kind == 1u) {
        acc = bitcast<f32>(0xff800000u);
    } else if (kind == 2u) {
        acc = bitcast<f32>(0x7f800000u);
    }
    for (var j = 0u; j < n; j++) {
        let v = load(p[3] + l.y + j * st);
        switch kind {
            case 1u: { acc = max(acc, v); }
            case 2u: { acc = min(acc, v); }
            case 3u: { acc += v * v; }
            default: { acc += v; }
        }
    }
    if (kind == 3u) {
        acc = acc / f32(n);
    }
    store(p[4] + l.x, acc);
}
