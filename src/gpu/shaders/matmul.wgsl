// Batched strided product of two activations (attention): C[b][i][j] = sum_k A[b][i][k] B[b][k][j].
// p: 0 m, 1 n, 2 k, 3 rsa, 4 csa, 5 rsb, 6 csb, 7 ldc, 8 a, 9 b, 10 c, 11 batch axes,
// 12 total (batches * m * n), then per batch axis d at 13 + 4 d: length, stride in A, B, C.

@compute @workgroup_size(64)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
          @builtin(local_invocation_index) lid: u32) {
    let idx = flat(wg, nwg, lid);
    if (idx >= p[12]) {
        return;
    }
    let m = p[0];
    let n = p[1];
    let j = idx % n;
    let i = (idx / n) % m;
    var b = idx / (n * m);
    var oa = p[8];
    var ob = p[9];
    var oc = p[10];
    for (var d = i32(p[11]) - 1; d >= 0; d--) {
        let base = 13u + 4u * u32(d);
        let len = p[base];
        let c = b % len;
        b = b / len;
        oa += c * p[base + 1u];
        ob += c * p[base + 2u];
        oc += c * p[base + 3u];
    }
    var acc = 0.0;
    for (var kk = 0u; kk < p[2]; kk++) {
        acc = fma(load(oa + i * p[3] + kk * p[4]), load(ob + kk * p[5] + j * p[6]), acc);
    }
    store(oc + i * p[7] + j, acc);
}
