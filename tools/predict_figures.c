/* predict_figures.c — the inference figures of docs/embedding.md, through the C API:
 *   predict_figures MODEL IMAGE.png REPEATS
 * prints the time to load the model and the resident memory after it, the peak resident memory of the
 * predictions alone (the kernel's peak counter is reset after loading: /proc/self/clear_refs,
 * Linux only) and the median, min and max time of one prediction over REPEATS runs (after one
 * untimed run), with the process's CPU time per prediction (all threads; on a shared machine it
 * moves much less than wall time). Build: cc -O2 tools/predict_figures.c -Iinclude -LBUILD -lagcnn_c. */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* A "Vm...:" line of /proc/self/status, in MiB. */
static double status_mib(const char* key) {
    FILE* f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0) kib = atof(line + strlen(key));
    if (f) fclose(f);
    return kib / 1024;
}

int main(int argc, char** argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s MODEL IMAGE.png REPEATS\n", argv[0]);
        return 2;
    }
    const int repeats = atoi(argv[3]);
    agcnn_predictor* predictor = NULL;
    agcnn_result result;
    const double open_start = seconds_now();
    if (repeats < 1 || agcnn_predictor_open(argv[1], &predictor) != AGCNN_OK) {
        fprintf(stderr, "error: %s\n", repeats < 1 ? "REPEATS must be >= 1" : agcnn_last_error());
        return 1;
    }
    const double open_seconds = seconds_now() - open_start;
    const double loaded = status_mib("VmRSS:"), load_peak = status_mib("VmHWM:");
    FILE* reset = fopen("/proc/self/clear_refs", "w");
    if (reset) {
        fputs("5", reset); /* resets VmHWM to the current resident size */
        fclose(reset);
    }
    double* times = malloc(sizeof(double) * (size_t)repeats);
    clock_t cpu_start = 0;
    for (int r = -1; r < repeats; ++r) {
        const double start = seconds_now();
        if (!times || agcnn_predict_file(predictor, argv[2], &result, NULL, 0) != AGCNN_OK) {
            fprintf(stderr, "error: %s\n", times ? agcnn_last_error() : "out of memory");
            return 1;
        }
        if (r >= 0) times[r] = seconds_now() - start;
        if (r == -1) cpu_start = clock();
    }
    const double cpu_ms = 1e3 * (double)(clock() - cpu_start) / CLOCKS_PER_SEC / repeats;
    qsort(times, (size_t)repeats, sizeof(double), by_value);
    printf("loading: %.2f s; resident after loading: %.0f MiB (peak while loading %.0f MiB)\n", open_seconds, loaded,
           load_peak);
    printf("peak resident while predicting: %.0f MiB (+%.0f MiB over the loaded model)\n", status_mib("VmHWM:"),
           status_mib("VmHWM:") - loaded);
    printf("one prediction: median %.1f ms, min %.1f, max %.1f over %d runs; CPU time %.1f ms each\n",
           1e3 * times[repeats / 2], 1e3 * times[0], 1e3 * times[repeats - 1], repeats, cpu_ms);
    free(times);
    agcnn_predictor_close(predictor);
    return 0;
}
