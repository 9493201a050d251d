/* Exercises every function of include/fewstep.h, including misuse, from plain C99.
 * usage: abi_test TRAJECTORY_MODEL.onnx DATA_PREDICTING_NET.onnx GENERATOR.onnx
 *        (prints "N passed, N failed") */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fewstep.h"

static int passed = 0, failed = 0;
#define CHECK(cond, what)                                                                     \
    do {                                                                                      \
        if (cond) {                                                                           \
            passed++;                                                                         \
        } else {                                                                              \
            failed++;                                                                         \
            fprintf(stderr, "FAIL line %d: %s (last error: %s)\n", __LINE__, what,            \
                    fewstep_last_error());                                                    \
        }                                                                                     \
    } while (0)

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(*len);
    if (fread(buf, 1, *len, f) != *len) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

/* Whether `a` and `b` agree to f32 rounding (the tolerance of the Rust tests' TOL_F32). */
static int close_f32(const float *a, const float *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > 1e-5 * (1.0 + fabs(a[i]))) return 0;
    }
    return 1;
}

/* Streams 8 frames of `agents` (at most 4) walking agents into both forecasters, predicts with
 * room for `capacity` (at most 4) and says whether both forecast all the agents alike: the same
 * ids and futures equal to f32 rounding. */
static int forecast_alike(FewstepForecaster *a, FewstepForecaster *b, size_t agents, size_t capacity) {
    double ids[4] = {1, 2, 3, 4}, id_a[4], id_b[4];
    float xs[4], ys[4], fut_a[4 * 20 * 24], fut_b[4 * 20 * 24];
    size_t i, n_a = 0, n_b = 0;
    int frame, ok = 1;
    for (frame = 0; frame < 8; frame++) {
        for (i = 0; i < agents; i++) {
            xs[i] = 0.3f * frame + (float)i;
            ys[i] = 0.2f * frame * (float)(i + 1);
        }
        ok &= fewstep_forecaster_observe(a, frame, ids, xs, ys, agents) == FEWSTEP_STATUS_OK;
        ok &= fewstep_forecaster_observe(b, frame, ids, xs, ys, agents) == FEWSTEP_STATUS_OK;
    }
    ok &= fewstep_forecaster_predict(a, id_a, fut_a, capacity, &n_a) == FEWSTEP_STATUS_OK && n_a == agents;
    ok &= fewstep_forecaster_predict(b, id_b, fut_b, capacity, &n_b) == FEWSTEP_STATUS_OK && n_b == agents;
    for (i = 0; ok && i < agents; i++) ok &= id_a[i] == id_b[i];
    return ok && close_f32(fut_a, fut_b, agents * 20 * 24);
}

int main(int argc, char **argv) {
    FewstepModel *m = NULL, *m2 = NULL;
    FewstepSession *s = NULL, *s16 = NULL;
    FewstepForecaster *fc = NULL;
    unsigned char garbage[64];
    unsigned char *bytes;
    size_t len = 0, sl, cl, i, count = 99;
    float *cond, *noise, *out, *out16;
    int frame, ok;
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL.onnx DATA_PREDICTING_NET.onnx GENERATOR.onnx\n", argv[0]);
        return 2;
    }
    CHECK(strlen(fewstep_version()) > 0, "version string");

    /* loading, and its misuse */
    CHECK(fewstep_model_load(NULL, &m) == FEWSTEP_STATUS_NULL_POINTER, "NULL path");
    CHECK(strstr(fewstep_last_error(), "NULL") != NULL, "last error names the NULL");
    CHECK(fewstep_model_load(argv[1], NULL) == FEWSTEP_STATUS_NULL_POINTER, "NULL out");
    CHECK(fewstep_model_load("/nonexistent/model.onnx", &m) == FEWSTEP_STATUS_IO, "missing file");
    for (i = 0; i < sizeof garbage; i++) garbage[i] = (unsigned char)(i * 37 + 11);
    CHECK(fewstep_model_load_from_memory(garbage, sizeof garbage, &m) == FEWSTEP_STATUS_BAD_MODEL, "garbage bytes");
    CHECK(fewstep_model_load_from_memory(NULL, 10, &m) == FEWSTEP_STATUS_NULL_POINTER, "NULL data");
    CHECK(fewstep_model_load_from_memory(garbage, 0, &m) == FEWSTEP_STATUS_BAD_MODEL, "empty buffer");
    CHECK(m == NULL, "failed loads leave out untouched");
    CHECK(fewstep_model_load(argv[1], &m) == FEWSTEP_STATUS_OK && m != NULL, "load from path");
    bytes = read_file(argv[1], &len);
    CHECK(bytes != NULL, "read model bytes");
    CHECK(fewstep_model_load_from_memory(bytes, len, &m2) == FEWSTEP_STATUS_OK, "load from memory");
    free(bytes);

    /* sessions */
    CHECK(fewstep_session_new(NULL, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 2, &s) == FEWSTEP_STATUS_NULL_POINTER, "session of NULL model");
    CHECK(fewstep_session_new(m, 7, FEWSTEP_PRECISION_F32, 2, &s) == FEWSTEP_STATUS_INVALID_ARGUMENT, "unknown backend code");
    CHECK(fewstep_session_new(m, FEWSTEP_BACKEND_NATIVE, 0xffffffffu, 2, &s) == FEWSTEP_STATUS_INVALID_ARGUMENT, "unknown precision code");
    /* a batch no machine could hold is an error, not an aborted allocation */
    CHECK(fewstep_session_new(m, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, SIZE_MAX, &s) == FEWSTEP_STATUS_INVALID_ARGUMENT && s == NULL, "a batch of SIZE_MAX");
    CHECK(strstr(fewstep_last_error(), "elements") != NULL, "the error names the input's size");
    CHECK(fewstep_session_new(m, FEWSTEP_BACKEND_TRACT, FEWSTEP_PRECISION_F32, (size_t)1 << 40, &s) == FEWSTEP_STATUS_INVALID_ARGUMENT && s == NULL, "a batch of 2^40 on tract");
    CHECK(fewstep_session_new(m, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 2, &s) == FEWSTEP_STATUS_OK, "session f32");
    CHECK(fewstep_session_new(m2, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F16, 2, &s16) == FEWSTEP_STATUS_OK, "session f16");
    sl = fewstep_session_state_len(s);
    cl = fewstep_session_cond_len(s);
    CHECK(sl == 2 * 20 * 24 && cl == 2 * 32, "state and cond lengths");
    CHECK(fewstep_session_state_len(NULL) == 0 && fewstep_session_cond_len(NULL) == 0, "lengths of NULL");
    cond = calloc(cl, sizeof(float));
    noise = calloc(sl, sizeof(float));
    out = calloc(sl, sizeof(float));
    out16 = calloc(sl, sizeof(float));
    for (i = 0; i < cl; i++) cond[i] = (float)sin((double)i);
    for (i = 0; i < sl; i++) noise[i] = (float)cos((double)i * 0.7);
    CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out, sl) == FEWSTEP_STATUS_OK, "sample f32");
    CHECK(fewstep_session_sample(s16, cond, cl, noise, sl, out16, sl) == FEWSTEP_STATUS_OK, "sample f16");
    ok = 1;
    for (i = 0; i < sl; i++) {
        if (!isfinite(out[i]) || fabs(out[i] - out16[i]) > 0.05 * (1.0 + fabs(out[i]))) ok = 0;
    }
    CHECK(ok, "f32 and f16 samples agree and are finite");
    CHECK(fewstep_session_sample(s, cond, cl - 1, noise, sl, out, sl) == FEWSTEP_STATUS_WRONG_LENGTH, "short cond");
    CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out, sl + 1) == FEWSTEP_STATUS_WRONG_LENGTH, "long out");
    CHECK(fewstep_session_sample(s, NULL, cl, noise, sl, out, sl) == FEWSTEP_STATUS_NULL_POINTER, "NULL cond");
    CHECK(fewstep_session_sample(NULL, cond, cl, noise, sl, out, sl) == FEWSTEP_STATUS_NULL_POINTER, "NULL session");
    noise[3] = NAN;
    CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out, sl) == FEWSTEP_STATUS_NON_FINITE, "NaN noise");
    noise[3] = 0.5f;
    /* a partial batch: row 0 alone gives row 0 of the full batch */
    CHECK(fewstep_session_batch_rows(s) == 2 && fewstep_session_batch_rows(NULL) == 0, "batch rows");
    CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out, sl) == FEWSTEP_STATUS_OK, "full batch");
    CHECK(fewstep_session_sample_batch(s, 1, cond, cl / 2, noise, sl / 2, out16, sl / 2) == FEWSTEP_STATUS_OK, "batch of 1");
    ok = close_f32(out, out16, sl / 2);
    CHECK(ok, "a batch of 1 matches row 0 of the full batch");
    CHECK(fewstep_session_sample_batch(s, 3, cond, cl, noise, sl, out, sl) == FEWSTEP_STATUS_INVALID_ARGUMENT, "3 rows of 2");
    CHECK(fewstep_session_sample_batch(s, 0, cond, 0, noise, 0, out, 0) == FEWSTEP_STATUS_INVALID_ARGUMENT, "0 rows");
    CHECK(fewstep_session_sample(s, cond, SIZE_MAX, noise, sl, out, sl) == FEWSTEP_STATUS_WRONG_LENGTH, "a cond length of SIZE_MAX");
    CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out, SIZE_MAX / 2) == FEWSTEP_STATUS_WRONG_LENGTH, "an out length no buffer has");
    CHECK(fewstep_session_sample_batch(s, 1, cond, cl, noise, sl / 2, out, sl / 2) == FEWSTEP_STATUS_WRONG_LENGTH, "cond of 2 rows for 1");
    CHECK(fewstep_session_sample_batch(NULL, 1, cond, cl / 2, noise, sl / 2, out, sl / 2) == FEWSTEP_STATUS_NULL_POINTER, "batch of NULL session");
    CHECK(fewstep_session_sample_batch(s, 1, cond, cl / 2, NULL, sl / 2, out, sl / 2) == FEWSTEP_STATUS_NULL_POINTER, "batch with NULL noise");
    {
        /* the sampler: the card's is 2 uniform Euler steps; 1 step samples otherwise, and the
         * card's grid set again reproduces the card's sample exactly */
        const float one[2] = {0.0f, 1.0f}, two[3] = {0.0f, 0.5f, 1.0f}, flat[3] = {0.0f, 0.5f, 0.5f};
        const float huge[2] = {-3e38f, 3e38f};
        CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out, sl) == FEWSTEP_STATUS_OK, "sample at the card's sampler");
        CHECK(fewstep_session_set_sampler(s, FEWSTEP_METHOD_EULER, one, 2) == FEWSTEP_STATUS_OK, "one Euler step");
        CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out16, sl) == FEWSTEP_STATUS_OK, "sample at one step");
        ok = 0;
        for (i = 0; i < sl; i++) {
            if (fabs(out[i] - out16[i]) > 1e-4 * (1.0 + fabs(out[i]))) ok = 1;
        }
        CHECK(ok, "one step samples otherwise than two");
        CHECK(fewstep_session_set_sampler(s, FEWSTEP_METHOD_MIDPOINT, two, 3) == FEWSTEP_STATUS_OK, "midpoint");
        CHECK(fewstep_session_set_sampler(s, 7, one, 2) == FEWSTEP_STATUS_INVALID_ARGUMENT, "unknown method code");
        CHECK(fewstep_session_set_sampler(s, FEWSTEP_METHOD_EULER, flat, 3) == FEWSTEP_STATUS_INVALID_ARGUMENT, "a grid that does not increase");
        CHECK(fewstep_session_set_sampler(s, FEWSTEP_METHOD_EULER, one, 1) == FEWSTEP_STATUS_INVALID_ARGUMENT, "a grid of one time");
        CHECK(fewstep_session_set_sampler(s, FEWSTEP_METHOD_EULER, NULL, 2) == FEWSTEP_STATUS_NULL_POINTER, "NULL times");
        CHECK(fewstep_session_set_sampler(NULL, FEWSTEP_METHOD_EULER, one, 2) == FEWSTEP_STATUS_NULL_POINTER, "sampler of NULL session");
        /* finite times whose difference overflows: the sample is infinite, so it is an error */
        CHECK(fewstep_session_set_sampler(s, FEWSTEP_METHOD_EULER, huge, 2) == FEWSTEP_STATUS_OK, "a finite grid that overflows");
        CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out16, sl) == FEWSTEP_STATUS_NON_FINITE, "an overflowing sample is refused");
        CHECK(strstr(fewstep_last_error(), "sample contains a non-finite value") != NULL, "the error names the sample");
        CHECK(fewstep_session_sample_batch(s, 1, cond, cl / 2, noise, sl / 2, out16, sl / 2) == FEWSTEP_STATUS_NON_FINITE, "and in a partial batch");
        CHECK(fewstep_session_set_sampler(s, FEWSTEP_METHOD_EULER, two, 3) == FEWSTEP_STATUS_OK, "the card's grid again");
        CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out16, sl) == FEWSTEP_STATUS_OK, "sample at the card's grid");
        ok = 1;
        for (i = 0; i < sl; i++) ok &= out[i] == out16[i];
        CHECK(ok, "the card's grid reproduces the card's sample");
    }
    {
        /* the batch split over 2 threads: one thread's sample, to f32 rounding */
        FewstepSession *st = NULL;
        CHECK(fewstep_session_new_threads(m, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 2, 2, &st) == FEWSTEP_STATUS_OK, "a session on 2 threads");
        CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out, sl) == FEWSTEP_STATUS_OK, "sample on 1 thread");
        CHECK(fewstep_session_sample(st, cond, cl, noise, sl, out16, sl) == FEWSTEP_STATUS_OK, "sample on 2 threads");
        ok = close_f32(out, out16, sl);
        CHECK(ok, "2 threads sample what 1 does");
        CHECK(fewstep_session_sample_batch(st, 1, cond, cl / 2, noise, sl / 2, out16, sl / 2) == FEWSTEP_STATUS_OK, "a partial batch on 2 threads");
        ok = close_f32(out, out16, sl / 2);
        CHECK(ok, "its row is row 0 of the full batch");
        CHECK(fewstep_session_new_threads(NULL, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 2, 2, &st) == FEWSTEP_STATUS_NULL_POINTER, "threads: NULL model");
        fewstep_session_free(st);
    }
    {
        /* FEWSTEP_FLAG_FIT_BATCHES: a session for 1 row beside the full batch; a partial batch
         * runs there and samples the padded batch's row, to f32 rounding */
        FewstepSession *fit = NULL, *bad = NULL;
        size_t plain_w = 0, plain_a = 0, fit_w = 0, fit_a = 0;
        CHECK(fewstep_session_new_with(m, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 2, 1, FEWSTEP_FLAG_FIT_BATCHES, &fit) == FEWSTEP_STATUS_OK, "a session that fits its batches");
        CHECK(fewstep_session_memory(s, &plain_w, &plain_a) == FEWSTEP_STATUS_OK && plain_w > 0 && plain_a > 0, "a plain session's memory");
        CHECK(fewstep_session_memory(fit, &fit_w, &fit_a) == FEWSTEP_STATUS_OK, "a fitting session's memory");
        CHECK(fit_a > plain_a, "the 1-row session adds an arena");
        CHECK(fit_w < plain_w + plain_w / 4, "and shares the packed weights");
        CHECK(fewstep_session_memory(fit, NULL, &fit_a) == FEWSTEP_STATUS_OK, "memory: NULL weight_bytes is skipped");
        CHECK(fewstep_session_memory(NULL, &fit_w, &fit_a) == FEWSTEP_STATUS_NULL_POINTER, "memory of NULL session");
        CHECK(fewstep_session_sample(s, cond, cl, noise, sl, out, sl) == FEWSTEP_STATUS_OK, "the padded batch");
        CHECK(fewstep_session_sample_batch(fit, 1, cond, cl / 2, noise, sl / 2, out16, sl / 2) == FEWSTEP_STATUS_OK, "a fitted partial batch");
        ok = close_f32(out, out16, sl / 2);
        CHECK(ok, "its row is row 0 of the full batch");
        CHECK(fewstep_session_new_with(m, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 2, 1, 2, &bad) == FEWSTEP_STATUS_INVALID_ARGUMENT && bad == NULL, "an unknown flag");
        CHECK(strstr(fewstep_last_error(), "0x2") != NULL, "the error names the bits");
        CHECK(fewstep_session_new_with(m, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 2, 1, 0x80000001u, &bad) == FEWSTEP_STATUS_INVALID_ARGUMENT && bad == NULL, "a known and an unknown flag");
        fewstep_session_free(fit);
    }
    {
        /* a shipped net predicts the data (its card says so): Heun to t = 1 is refused, a
         * shorter grid is not; a generator has no sampler */
        FewstepModel *data_net = NULL, *generator = NULL;
        FewstepSession *ds = NULL, *gs = NULL;
        const float two[3] = {0.0f, 0.5f, 1.0f}, short_grid[3] = {0.0f, 0.45f, 0.9f};
        CHECK(fewstep_model_load(argv[2], &data_net) == FEWSTEP_STATUS_OK, "load the data-predicting net");
        CHECK(fewstep_session_new(data_net, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 1, &ds) == FEWSTEP_STATUS_OK, "its session");
        CHECK(fewstep_session_set_sampler(ds, FEWSTEP_METHOD_HEUN, two, 3) == FEWSTEP_STATUS_INVALID_ARGUMENT, "Heun to t = 1");
        CHECK(strstr(fewstep_last_error(), "predicts the data") != NULL, "the refusal says why");
        CHECK(fewstep_session_set_sampler(ds, FEWSTEP_METHOD_HEUN, short_grid, 3) == FEWSTEP_STATUS_OK, "Heun to t = 0.9");
        CHECK(fewstep_model_load(argv[3], &generator) == FEWSTEP_STATUS_OK, "load the generator");
        CHECK(fewstep_session_new(generator, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 1, &gs) == FEWSTEP_STATUS_OK, "its session");
        CHECK(fewstep_session_set_sampler(gs, FEWSTEP_METHOD_EULER, two, 3) == FEWSTEP_STATUS_INVALID_ARGUMENT, "a generator has no sampler");
        fewstep_session_free(ds);
        fewstep_session_free(gs);
        fewstep_model_free(data_net);
        fewstep_model_free(generator);
    }
    {
        /* one forward pass: inputs x [2,20,24], t [2,1], cond [2,32]; output v [2,20,24] */
        float t[2] = {0.25f, 0.75f};
        const float *ins[3];
        size_t in_lens[3];
        float *outs[1];
        size_t out_lens[1];
        ins[0] = noise; in_lens[0] = sl;
        ins[1] = t; in_lens[1] = 2;
        ins[2] = cond; in_lens[2] = cl;
        outs[0] = out; out_lens[0] = sl;
        /* the lengths the session reports are the ones the graph takes */
        CHECK(fewstep_session_input_count(s) == 3 && fewstep_session_output_count(s) == 1, "input and output counts");
        CHECK(fewstep_session_input_len(s, 0) == sl && fewstep_session_input_len(s, 1) == 2 && fewstep_session_input_len(s, 2) == cl, "input lengths");
        CHECK(fewstep_session_output_len(s, 0) == sl, "output length");
        CHECK(fewstep_session_input_len(s, 3) == 0 && fewstep_session_output_len(s, 1) == 0, "lengths past the last");
        CHECK(fewstep_session_input_count(NULL) == 0 && fewstep_session_input_len(NULL, 0) == 0 && fewstep_session_output_count(NULL) == 0 && fewstep_session_output_len(NULL, 0) == 0, "counts and lengths of NULL");
        CHECK(fewstep_session_run(s, ins, in_lens, 3, outs, out_lens, 1) == FEWSTEP_STATUS_OK, "run");
        CHECK(fewstep_session_run(s, ins, in_lens, 2, outs, out_lens, 1) == FEWSTEP_STATUS_WRONG_LENGTH, "run with too few inputs");
        in_lens[1] = 3;
        CHECK(fewstep_session_run(s, ins, in_lens, 3, outs, out_lens, 1) == FEWSTEP_STATUS_WRONG_LENGTH, "run with a wrong length");
        CHECK(fewstep_session_run(s, NULL, in_lens, 3, outs, out_lens, 1) == FEWSTEP_STATUS_NULL_POINTER, "run with NULL inputs");
    }

    /* the streaming forecaster */
    CHECK(fewstep_forecaster_new(NULL, 4, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 7, &fc) == FEWSTEP_STATUS_NULL_POINTER, "forecaster of NULL");
    CHECK(fewstep_forecaster_new(m, 0, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 7, &fc) == FEWSTEP_STATUS_INVALID_ARGUMENT, "zero agents");
    CHECK(fewstep_forecaster_new(m, SIZE_MAX, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 7, &fc) == FEWSTEP_STATUS_INVALID_ARGUMENT && fc == NULL, "SIZE_MAX agents");
    CHECK(fewstep_forecaster_new(m, 4, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 7, &fc) == FEWSTEP_STATUS_OK, "forecaster");
    CHECK(fewstep_forecaster_k(fc) == 20 && fewstep_forecaster_k(NULL) == 0, "K");
    {
        const float one[2] = {0.0f, 1.0f};
        CHECK(fewstep_forecaster_set_sampler(fc, FEWSTEP_METHOD_EULER, one, 2) == FEWSTEP_STATUS_OK, "forecaster at one step");
        CHECK(fewstep_forecaster_set_sampler(fc, 3, one, 2) == FEWSTEP_STATUS_INVALID_ARGUMENT, "forecaster: unknown method code");
        CHECK(fewstep_forecaster_set_sampler(NULL, FEWSTEP_METHOD_EULER, one, 2) == FEWSTEP_STATUS_NULL_POINTER, "sampler of NULL forecaster");
    }
    {
        double ids[5] = {1, 2, 3, 4, 5}, out_ids[4];
        float xs[5], ys[5];
        float *fut = calloc(4 * 20 * 24, sizeof(float));
        for (frame = 0; frame < 9; frame++) {
            xs[0] = 0.4f * frame; ys[0] = 0.0f;
            xs[1] = 1.0f; ys[1] = 0.3f * frame;
            CHECK(fewstep_forecaster_observe(fc, frame * 10.0, ids, xs, ys, 2) == FEWSTEP_STATUS_OK, "observe");
            CHECK(fewstep_forecaster_predict(fc, out_ids, fut, 4, &count) == FEWSTEP_STATUS_OK, "predict");
            CHECK(count == (frame >= 7 ? 2u : 0u), "agents are ready after 8 frames");
        }
        CHECK(out_ids[0] == 1.0 && out_ids[1] == 2.0, "forecast agent ids");
        ok = 1;
        for (i = 0; i < 2 * 20 * 24; i++) ok &= isfinite(fut[i]) != 0;
        CHECK(ok, "finite futures");
        {
            /* a grid whose step overflows: the forecast is refused and nothing is written */
            const float huge[2] = {-3e38f, 3e38f}, one[2] = {0.0f, 1.0f};
            count = 99;
            CHECK(fewstep_forecaster_set_sampler(fc, FEWSTEP_METHOD_EULER, huge, 2) == FEWSTEP_STATUS_OK, "forecaster: a grid that overflows");
            CHECK(fewstep_forecaster_predict(fc, out_ids, fut, 4, &count) == FEWSTEP_STATUS_NON_FINITE && count == 99, "an overflowing forecast is refused");
            CHECK(fewstep_forecaster_set_sampler(fc, FEWSTEP_METHOD_EULER, one, 2) == FEWSTEP_STATUS_OK, "forecaster back at one step");
            CHECK(fewstep_forecaster_predict(fc, out_ids, fut, 4, &count) == FEWSTEP_STATUS_OK && count == 2, "and it forecasts again");
        }
        ids[1] = 1;
        CHECK(fewstep_forecaster_observe(fc, 100.0, ids, xs, ys, 2) == FEWSTEP_STATUS_INVALID_ARGUMENT, "duplicate agent");
        ids[1] = 2;
        CHECK(fewstep_forecaster_observe(fc, 110.0, ids, xs, ys, 5) == FEWSTEP_STATUS_CAPACITY, "too many agents");
        CHECK(fewstep_forecaster_observe(fc, 50.0, ids, xs, ys, 2) == FEWSTEP_STATUS_INVALID_ARGUMENT, "frame going back");
        CHECK(fewstep_forecaster_observe(fc, 200.0, ids, xs, ys, SIZE_MAX) == FEWSTEP_STATUS_CAPACITY, "SIZE_MAX agents in a frame");
        CHECK(fewstep_forecaster_observe(fc, 120.0, ids, NULL, ys, 2) == FEWSTEP_STATUS_NULL_POINTER, "NULL xs");
        CHECK(fewstep_forecaster_observe(fc, 130.0, ids, xs, ys, 2) == FEWSTEP_STATUS_OK, "observe after errors");
        CHECK(fewstep_forecaster_predict(fc, out_ids, fut, 4, NULL) == FEWSTEP_STATUS_NULL_POINTER, "NULL count");
        CHECK(fewstep_forecaster_predict(fc, out_ids, fut, 1, &count) == FEWSTEP_STATUS_CAPACITY || count <= 1, "small capacity");
        CHECK(fewstep_forecaster_observe(NULL, 0.0, ids, xs, ys, 2) == FEWSTEP_STATUS_NULL_POINTER, "NULL forecaster");
        free(fut);
    }

    {
        /* a forecaster on 2 threads forecasts what one thread does, to f32 rounding */
        FewstepForecaster *f1 = NULL, *f2 = NULL;
        CHECK(fewstep_forecaster_new_threads(m, 3, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 11, 1, &f1) == FEWSTEP_STATUS_OK, "forecaster on 1 thread");
        CHECK(fewstep_forecaster_new_threads(m, 3, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 11, 2, &f2) == FEWSTEP_STATUS_OK, "forecaster on 2 threads");
        CHECK(forecast_alike(f1, f2, 3, 3), "the same forecasts");
        fewstep_forecaster_free(f1);
        fewstep_forecaster_free(f2);
    }
    {
        /* flags 0: every frame padded to max_agents; the same forecasts as fitted frames, to f32
         * rounding, with less memory (no sessions for 1 and 2 rows) */
        FewstepForecaster *fitted = NULL, *padded = NULL, *bad = NULL;
        size_t fitted_a = 0, padded_a = 0, w = 0;
        CHECK(fewstep_forecaster_new(m, 4, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 5, &fitted) == FEWSTEP_STATUS_OK, "a fitting forecaster");
        CHECK(fewstep_forecaster_new_with(m, 4, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 5, 1, 0, &padded) == FEWSTEP_STATUS_OK, "a padding forecaster");
        CHECK(fewstep_forecaster_memory(fitted, &w, &fitted_a) == FEWSTEP_STATUS_OK && w > 0, "its memory");
        CHECK(fewstep_forecaster_memory(padded, NULL, &padded_a) == FEWSTEP_STATUS_OK, "the other's");
        CHECK(fitted_a > padded_a, "fitting adds arenas");
        CHECK(fewstep_forecaster_memory(NULL, &w, NULL) == FEWSTEP_STATUS_NULL_POINTER, "memory of NULL forecaster");
        CHECK(forecast_alike(fitted, padded, 2, 4), "2 of 4 agents: the same forecasts");
        CHECK(fewstep_forecaster_new_with(m, 4, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, 5, 1, 4, &bad) == FEWSTEP_STATUS_INVALID_ARGUMENT && bad == NULL, "an unknown forecaster flag");
        fewstep_forecaster_free(fitted);
        fewstep_forecaster_free(padded);
    }

    /* releasing, NULL included */
    fewstep_forecaster_free(fc);
    fewstep_session_free(s);
    fewstep_session_free(s16);
    fewstep_model_free(m);
    fewstep_model_free(m2);
    fewstep_forecaster_free(NULL);
    fewstep_session_free(NULL);
    fewstep_model_free(NULL);
    free(cond);
    free(noise);
    free(out);
    free(out16);
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
