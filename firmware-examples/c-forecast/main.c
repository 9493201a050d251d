/* c-forecast: feeds a scene's observations to fewstep's streaming forecaster frame by frame
 * and prints each forecast agent's K futures (final positions) per frame.
 *
 * usage: c-forecast MODEL.onnx SCENE.txt [MAX_AGENTS] [SEED] [THREADS]
 * THREADS: CPU threads that share each frame's agents (fewstep_forecaster_new_threads; default 1).
 * SCENE.txt: whitespace-separated `frame agent x y` rows, sorted by frame (as in ETH-UCY).
 * Stderr: the forecaster's weight and arena memory (fewstep_forecaster_memory), then errors.
 * Output: one line per forecast agent and frame:
 *   frame <f> agent <id> k <K> mean_final <x> <y> mode0 <x0,y0 ... x11,y11>
 * Plain C99 against include/fewstep.h; links libfewstep.a. */
#include <stdio.h>
#include <stdlib.h>

#include "fewstep.h"

#define MAX_ROWS_PER_FRAME 256

static int fail(const char *what) {
    fprintf(stderr, "c-forecast: %s: %s\n", what, fewstep_last_error());
    return 1;
}

static int flush_frame(FewstepForecaster *fc, double frame, const double *ids, const float *xs,
                       const float *ys, size_t n, size_t max_agents, double *out_ids, float *fut) {
    size_t count = 0, i, j, m, k = fewstep_forecaster_k(fc);
    if (fewstep_forecaster_observe(fc, frame, ids, xs, ys, n) != FEWSTEP_STATUS_OK) return fail("observe");
    if (fewstep_forecaster_predict(fc, out_ids, fut, max_agents, &count) != FEWSTEP_STATUS_OK) return fail("predict");
    for (i = 0; i < count; i++) {
        double mx = 0, my = 0;
        const float *mode0 = fut + (i * k) * 24;
        for (m = 0; m < k; m++) {
            const float *last = fut + ((i * k + m) * 12 + 11) * 2;
            mx += last[0];
            my += last[1];
        }
        printf("frame %.1f agent %.1f k %zu mean_final %.6f %.6f mode0", frame, out_ids[i], k, mx / k, my / k);
        for (j = 0; j < 12; j++) printf(" %.6f,%.6f", mode0[2 * j], mode0[2 * j + 1]);
        printf("\n");
    }
    return 0;
}

int main(int argc, char **argv) {
    FewstepModel *model = NULL;
    FewstepForecaster *fc = NULL;
    FILE *scene;
    double ids[MAX_ROWS_PER_FRAME], out_ids[MAX_ROWS_PER_FRAME], frame, agent, current = 0;
    float xs[MAX_ROWS_PER_FRAME], ys[MAX_ROWS_PER_FRAME], x, y, *fut;
    size_t n = 0, max_agents, threads;
    unsigned long long seed;
    int have_frame = 0, rc = 0;
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.onnx SCENE.txt [MAX_AGENTS] [SEED] [THREADS]\n", argv[0]);
        return 2;
    }
    max_agents = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 64;
    seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
    threads = argc > 5 ? (size_t)strtoul(argv[5], NULL, 10) : 1;
    if (max_agents == 0 || max_agents > MAX_ROWS_PER_FRAME) {
        fprintf(stderr, "c-forecast: MAX_AGENTS must be 1..%d\n", MAX_ROWS_PER_FRAME);
        return 2;
    }
    if (fewstep_model_load(argv[1], &model) != FEWSTEP_STATUS_OK) return fail("loading the model");
    if (fewstep_forecaster_new_threads(model, max_agents, FEWSTEP_BACKEND_NATIVE, FEWSTEP_PRECISION_F32, seed,
                                       threads, &fc) != FEWSTEP_STATUS_OK) {
        fewstep_model_free(model);
        return fail("building the forecaster");
    }
    {
        /* the memory a deployment budgets for: packed weights and activation arenas */
        size_t weight_bytes = 0, arena_bytes = 0;
        if (fewstep_forecaster_memory(fc, &weight_bytes, &arena_bytes) == FEWSTEP_STATUS_OK)
            fprintf(stderr, "c-forecast: %zu agents on %zu thread(s): %zu KiB of weights, %zu KiB of arenas\n",
                    max_agents, threads ? threads : 1, weight_bytes / 1024, arena_bytes / 1024);
    }
    fut = malloc(max_agents * fewstep_forecaster_k(fc) * 24 * sizeof(float));
    scene = fopen(argv[2], "r");
    if (!scene || !fut) {
        fprintf(stderr, "c-forecast: cannot open %s\n", argv[2]);
        rc = 1;
    }
    while (rc == 0 && fscanf(scene, "%lf %lf %f %f", &frame, &agent, &x, &y) == 4) {
        if (have_frame && frame != current) {
            rc = flush_frame(fc, current, ids, xs, ys, n, max_agents, out_ids, fut);
            n = 0;
        }
        if (n == MAX_ROWS_PER_FRAME) {
            fprintf(stderr, "c-forecast: more than %d rows in one frame\n", MAX_ROWS_PER_FRAME);
            rc = 1;
            break;
        }
        current = frame;
        have_frame = 1;
        ids[n] = agent;
        xs[n] = x;
        ys[n] = y;
        n++;
    }
    if (rc == 0 && have_frame) rc = flush_frame(fc, current, ids, xs, ys, n, max_agents, out_ids, fut);
    if (scene) fclose(scene);
    free(fut);
    fewstep_forecaster_free(fc);
    fewstep_model_free(model);
    return rc;
}
