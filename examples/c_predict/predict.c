/* predict.c — AG-CNN on one chest X-ray through agcnn's C API, as a program outside agcnn
 * would write it (docs/embedding.md; tests/test_embedding.cpp builds it against the installed
 * package and compares its output with `agcnn predict`).
 *
 *   agcnn_c_predict MODEL.safetensors IMAGE.png [REPEATS]
 *
 * Prints, as `agcnn predict` writes predictions.csv, one line per branch:
 *   IMAGE,global,<15 probabilities>   (then local, fusion)
 * then the attention box in the image's pixels and its heatmap's mean:
 *   IMAGE,box,<x>,<y>,<width>,<height>
 *   IMAGE,heatmap_mean,<mean>
 * With REPEATS, predicts that many more times and prints the median time per image on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <agcnn/c/agcnn_c.h>

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void* a, const void* b) {
    const double x = *(const double*)a, y = *(const double*)b;
    return (x > y) - (x < y);
}

int main(int argc, char** argv) {
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: %s MODEL.safetensors IMAGE.png [REPEATS]\n", argv[0]);
        return 2;
    }
    agcnn_predictor* predictor = NULL;
    if (agcnn_predictor_open(argv[1], &predictor) != AGCNN_OK) {
        fprintf(stderr, "error: %s\n", agcnn_last_error());
        return 1;
    }
    const int side = agcnn_predictor_input_size(predictor);
    float* heatmap = malloc((size_t)side * (size_t)side * sizeof(float));
    agcnn_result result;
    int status = heatmap ? agcnn_predict_file(predictor, argv[2], &result, heatmap, (size_t)side * (size_t)side)
                         : AGCNN_ERROR_OUT_OF_MEMORY;
    if (status != AGCNN_OK) {
        fprintf(stderr, "error: %s\n", agcnn_last_error());
        free(heatmap);
        agcnn_predictor_close(predictor);
        return 1;
    }
    for (int b = 0; b < AGCNN_BRANCH_COUNT; ++b) {
        printf("%s,%s", argv[2], agcnn_branch_name(b));
        for (int k = 0; k < AGCNN_LABEL_COUNT; ++k) printf(",%.6f", result.probabilities[b][k]);
        printf("\n");
    }
    printf("%s,box,%.9g,%.9g,%.9g,%.9g\n", argv[2], result.box_source.x, result.box_source.y,
           result.box_source.width, result.box_source.height);
    double sum = 0;
    for (int i = 0; i < side * side; ++i) sum += heatmap[i];
    printf("%s,heatmap_mean,%.9g\n", argv[2], sum / ((double)side * side));

    const int repeats = argc == 4 ? atoi(argv[3]) : 0;
    if (repeats > 0) {
        double* times = malloc((size_t)repeats * sizeof(double));
        for (int r = 0; times && r < repeats && status == AGCNN_OK; ++r) {
            const double start = seconds_now();
            status = agcnn_predict_file(predictor, argv[2], &result, NULL, 0);
            times[r] = seconds_now() - start;
        }
        if (times && status == AGCNN_OK) {
            qsort(times, (size_t)repeats, sizeof(double), by_value);
            fprintf(stderr, "median %.1f ms per image over %d runs (min %.1f, max %.1f)\n", 1e3 * times[repeats / 2],
                    repeats, 1e3 * times[0], 1e3 * times[repeats - 1]);
        }
        free(times);
    }
    free(heatmap);
    agcnn_predictor_close(predictor);
    return status == AGCNN_OK ? 0 : 1;
}
