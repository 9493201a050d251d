// Data movement and the sampler's own updates.

// dst[o * dst_stride + j] = src[o * src_stride + j] for o < rows, j < width (concat, slice,
// gather, copy). p: 0 rows, 1 width, 2 src, 3 src stride, 4 dst, 5 dst stride.
@compute @workgroup_size(64)
fn copy2d(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let idx = flat(wg, nwg, lid);
    if (idx >= p[0] * p[1]) {
        return;
    }
    let o = idx / p[1];
    let j = idx % p[1];
    store(p[4] + o * p[5] + j, load(p[2] + o * p[3] + j));
}

// dst = a + alpha * b (b = NONE: dst = a); the sampler's steps. p: 0 n, 1 dst, 2 a, 3 b, 4 alpha.
@compute @workgroup_size(64)
fn axpy(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let idx = flat(wg, nwg, lid);
    if (idx >= p[0]) {
        return;
    }
    var v = data[p[2] + idx];
    if (p[3] != NONE) {
        v = fma(pf(4), data[p[3] + idx], v);
    }
    data[p[1] + idx] = v;
}

// data[dst .. dst + n] = value (the sampler's time input). p: 0 n, 1 dst, 2 value.
@compute @workgroup_size(64)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
    let idx = flat(wg, nwg, lid);
    if (idx >= p[0]) {
        return;
    }
    data[p[1] + idx] = pf(2);
}
