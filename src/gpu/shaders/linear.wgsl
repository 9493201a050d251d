// y[m, n] = act(x[m, k] . W[k, n] + bias[n]), tiled 16 x 16 through workgroup memory.
// p: 0 m, 1 k, 2 n, 3 x, 4 w, 5 bias (NONE: no bias), 6 y, 7 act, 8 w is packed f16 (1) or not (see `weight`).

const T: u32 = 16u;
var<workgroup> xs: array<array<f32, 16>, 16>;
var<workgroup> ws: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16)
fn linear(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
    let m = p[0];
    let k = p[1];
    let n = p[2];
    let row = wg.y * T + l.y;
    let col = wg.x * T + l.x;
    var acc = 0.0;
    for (var k0 = 0u; k0 < k; k0 += T) {
        let xk = k0 + l.x;
        var xv = 0.0;
        if (row < m && xk < k) {
            xv = load(p[3] + row * k + xk);
        }
        xs[l.y][l.x] = xv;
        let wk = k0 + l.y;
        var wv = 0.0;
        if (wk < k && col < n) {
            wv = weight(p[4] + wk * n + col, p[8] == 1u);
        }
        ws[l.y][l.x] = wv;
        workgroupBarrier();
        for (var kk = 0u; kk < T; kk++) {
            acc = fma(xs[l.y][kk], ws[kk][l.x], acc);
        }
        workgroupBarrier();
    }
    if (row < m && col < n) {
        var v = acc;
        if (p[5] != NONE) {
            v += load(p[5] + col);
        }
        store(p[6] + row * n + col, act(v, p[7]));
    }
}
