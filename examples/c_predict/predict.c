/* predict.c — AG-CNN on one chest X-ray through agcnn's C API, as a program outside agcnn
 * would write it (docs/embedding.md). tests/test_embedding.cpp runs it; tests/test_cli.cpp builds
 * it against an installed agcnn and compares its output with `agcnn predict`'s.
 *
 *   agcnn_c_predict MODEL.safetensors IMAGE.png
 *
 * Prints, as `agcnn predict` writes predictions.csv, one line per branch:
 *   IMAGE,global,<15 probabilities>   (then local, fusion)
 * then the attention box in the image's pixels and its heatmap's mean:
 *   IMAGE,box,<x>,<y>,<width>,<height>
 *   IMAGE,heatmap_mean,<mean>
 * (tools/predict_figures.c times predictions and measures their memory.) */
#include <stdio.h>
#include <stdlib.h>

#include <agcnn/c/agcnn_c.h>

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.safetensors IMAGE.png\n", argv[0]);
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
    if (!heatmap || agcnn_predict_file(predictor, argv[2], &result, heatmap, (size_t)side * (size_t)side) != AGCNN_OK) {
        fprintf(stderr, "error: %s\n", heatmap ? agcnn_last_error() : "out of memory");
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

    free(heatmap);
    agcnn_predictor_close(predictor);
    return 0;
}
