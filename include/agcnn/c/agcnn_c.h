/* agcnn/c/agcnn_c.h — the C API of agcnn's inference: AG-CNN's 15 label probabilities (three
 * branches), its attention box and heatmap for a chest X-ray, from one model file written by
 * `agcnn export`. Library: agcnn_c (CMake: find_package(agcnn) then agcnn::agcnn_c).
 *
 * Conventions
 *   - Every function that can fail returns an agcnn_status; AGCNN_OK is 0. On failure
 *     agcnn_last_error() gives one line for a person (naming the file or argument), valid on the
 *     calling thread until its next call into this API.
 *   - No C++ exception ever crosses this API; out-of-memory is AGCNN_ERROR_OUT_OF_MEMORY.
 *   - The caller owns every buffer: results and heatmaps are written into memory it passes. The
 *     only object the library allocates is the predictor, freed by agcnn_predictor_close().
 *   - A predictor may be used from several threads at once: calls are serialised inside. Open
 *     one predictor per thread for parallel throughput.
 *
 * Images: 8-bit gray (one byte per pixel) or 16-bit gray with `bits_stored` significant bits
 * (DICOM's Bits Stored; kept at 16-bit precision), row-major, width x height, any size up to
 * 16384 per side; or an image file (PNG, JPEG, or DICOM in a build with GDCM).
 * Each is seen as `agcnn predict` sees a file: same numbers for the same model and image.
 */
#ifndef AGCNN_C_H
#define AGCNN_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define AGCNN_C_API __attribute__((visibility("default")))
#else
#define AGCNN_C_API
#endif

#define AGCNN_LABEL_COUNT 15 /* 14 diseases, then No Finding: agcnn_label_name() */
#define AGCNN_BRANCH_COUNT 3

typedef enum agcnn_status {
    AGCNN_OK = 0,
    AGCNN_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, a bad size, a buffer too small */
    AGCNN_ERROR = 2,                  /* a bad or unreadable file, a bad image: see agcnn_last_error() */
    AGCNN_ERROR_OUT_OF_MEMORY = 3,
    AGCNN_ERROR_INTERNAL = 4          /* a bug: please report agcnn_last_error() */
} agcnn_status;

typedef enum agcnn_branch { AGCNN_GLOBAL = 0, AGCNN_LOCAL = 1, AGCNN_FUSION = 2 } agcnn_branch;

/* A box: left, top, width, height, in pixels (0,0 = top-left corner of the top-left pixel). */
typedef struct agcnn_box {
    double x, y, width, height;
} agcnn_box;

typedef struct agcnn_result {
    double probabilities[AGCNN_BRANCH_COUNT][AGCNN_LABEL_COUNT]; /* [agcnn_branch][label] */
    agcnn_box box_input;  /* the attention box in network-input pixels (input_size square) */
    agcnn_box box_source; /* the same box in the pixels of the image given */
    int input_size;       /* the network input's side (224 for the paper's model) */
} agcnn_result;

typedef struct agcnn_predictor agcnn_predictor; /* opaque */

/* This thread's last error message ("" when none). */
AGCNN_C_API const char* agcnn_last_error(void);
/* "Atelectasis", ..., "No Finding" for 0..14; NULL outside. */
AGCNN_C_API const char* agcnn_label_name(int label);
/* "global", "local", "fusion"; NULL outside. */
AGCNN_C_API const char* agcnn_branch_name(int branch);
/* The library's version, e.g. "0.1.0". */
AGCNN_C_API const char* agcnn_version(void);
/* CPU threads for the math (0 = all cores); single-threaded builds accept only 0 and 1. */
AGCNN_C_API agcnn_status agcnn_set_threads(int threads);
/* 1: while other processes keep this process's CPUs busy, keep the math's threads together on
 * the CPUs they leave (measured every 0.25 s at most, from /proc/stat; it moves OpenMP's threads,
 * which your program may share); 0: off, the default. Linux OpenMP builds; elsewhere it does
 * nothing. Other values: AGCNN_ERROR_INVALID_ARGUMENT. See docs/embedding.md. */
AGCNN_C_API agcnn_status agcnn_set_cpu_sharing(int on);

/* Loads a model file (agcnn export). On success *predictor is a new predictor. Its first
 * prediction packs the network's filters for the CPU's matrix kernels and keeps them, so later
 * predictions are faster (about 180 MiB more for a full-width model: docs/embedding.md). */
AGCNN_C_API agcnn_status agcnn_predictor_open(const char* model_path, agcnn_predictor** predictor);
/* The same without the kept packed filters: less memory, each prediction packs them again. */
AGCNN_C_API agcnn_status agcnn_predictor_open_unpacked(const char* model_path, agcnn_predictor** predictor);
/* Frees a predictor (NULL is ignored). */
AGCNN_C_API void agcnn_predictor_close(agcnn_predictor* predictor);
/* The network input's side; the heatmap has input_size * input_size values. */
AGCNN_C_API int agcnn_predictor_input_size(const agcnn_predictor* predictor);

/* Predicts on one image. `heatmap` may be NULL; otherwise it receives the global branch's
 * attention heatmap (values in [0, 1], row-major over the network input) and must hold
 * `heatmap_capacity` >= input_size * input_size floats. */
AGCNN_C_API agcnn_status agcnn_predict_u8(agcnn_predictor* predictor, const uint8_t* pixels, int width,
                                          int height, agcnn_result* result, float* heatmap,
                                          size_t heatmap_capacity);
AGCNN_C_API agcnn_status agcnn_predict_u16(agcnn_predictor* predictor, const uint16_t* pixels, int width,
                                           int height, int bits_stored, agcnn_result* result, float* heatmap,
                                           size_t heatmap_capacity);
AGCNN_C_API agcnn_status agcnn_predict_file(agcnn_predictor* predictor, const char* path,
                                            agcnn_result* result, float* heatmap, size_t heatmap_capacity);

#ifdef __cplusplus
}
#endif

#endif /* AGCNN_C_H */
