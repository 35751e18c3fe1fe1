// The C API (include/agcnn/c/agcnn_c.h) over app::Predictor: every entry point catches every
// exception and turns it into a status and this thread's last-error message.
#include "agcnn/c/agcnn_c.h"

#include <cstring>
#include <exception>
#include <new>
#include <string>

#include "agcnn/app/predictor.hpp"
#include "agcnn/core/cpu_sharing.hpp"
#include "agcnn/core/threads.hpp"

struct agcnn_predictor {
    agcnn::app::Predictor predictor;
};

namespace {

thread_local std::string last_error;

agcnn_status fail(agcnn_status status, std::string message) {
    last_error = std::move(message);
    return status;
}

// Runs `body` (returning void) with every exception turned into a status.
template <class Body>
agcnn_status guarded(Body&& body) {
    try {
        last_error.clear();
        body();
        return AGCNN_OK;
    } catch (const agcnn::Error& e) {
        return fail(AGCNN_ERROR, e.what());
    } catch (const std::bad_alloc&) {
        return fail(AGCNN_ERROR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception& e) {
        return fail(AGCNN_ERROR_INTERNAL, std::string("internal error: ") + e.what());
    } catch (...) {
        return fail(AGCNN_ERROR_INTERNAL, "internal error: unknown exception");
    }
}

agcnn_box c_box(const agcnn::Box& b) { return {b.x0, b.y0, b.width(), b.height()}; }

// Checks the arguments every predict call shares, runs `predict` and copies its result out.
template <class Predict>
agcnn_status predict_into(agcnn_predictor* predictor, agcnn_result* result, float* heatmap,
                          std::size_t heatmap_capacity, Predict&& predict) {
    if (!predictor) return fail(AGCNN_ERROR_INVALID_ARGUMENT, "predict: the predictor is NULL");
    if (!result) return fail(AGCNN_ERROR_INVALID_ARGUMENT, "predict: the result is NULL");
    const std::size_t side = static_cast<std::size_t>(predictor->predictor.settings().input_size);
    if (heatmap && heatmap_capacity < side * side)
        return fail(AGCNN_ERROR_INVALID_ARGUMENT, "predict: the heatmap buffer holds " +
                                                      std::to_string(heatmap_capacity) + " floats but needs " +
                                                      std::to_string(side * side));
    return guarded([&] {
        const agcnn::app::Prediction p = predict(predictor->predictor, heatmap != nullptr);
        for (agcnn::model::Branch b : agcnn::model::kBranches)
            for (int k = 0; k < AGCNN_LABEL_COUNT; ++k)
                result->probabilities[static_cast<int>(b)][k] = p.probabilities(b)[std::size_t(k)];
        result->box_input = c_box(p.box_input);
        result->box_source = c_box(p.box_source);
        result->input_size = p.input_size;
        if (heatmap) std::memcpy(heatmap, p.heatmap.data(), p.heatmap.size() * sizeof(float));
    });
}

agcnn_status open_predictor(const char* model_path, agcnn_predictor** predictor, bool pack_filters) {
    if (!model_path || !predictor) return fail(AGCNN_ERROR_INVALID_ARGUMENT, "open: NULL model path or predictor");
    *predictor = nullptr;
    return guarded([&] { *predictor = new agcnn_predictor{agcnn::app::Predictor(model_path, pack_filters)}; });
}

}  // namespace

static_assert(static_cast<int>(agcnn::model::Branch::global) == AGCNN_GLOBAL &&
              static_cast<int>(agcnn::model::Branch::local) == AGCNN_LOCAL &&
              static_cast<int>(agcnn::model::Branch::fusion) == AGCNN_FUSION);
static_assert(agcnn::model::kLabelCount == AGCNN_LABEL_COUNT);

extern "C" {

const char* agcnn_last_error(void) { return last_error.c_str(); }

const char* agcnn_label_name(int label) {
    if (label < 0 || label >= AGCNN_LABEL_COUNT) return nullptr;
    return agcnn::model::kLabelNames[std::size_t(label)].data();  // literals: NUL-terminated
}

const char* agcnn_branch_name(int branch) {
    if (branch < 0 || branch >= AGCNN_BRANCH_COUNT) return nullptr;
    return agcnn::model::branch_name(static_cast<agcnn::model::Branch>(branch));
}

const char* agcnn_version(void) { return AGCNN_VERSION; }

agcnn_status agcnn_set_threads(int threads) {
#ifndef _OPENMP
    if (threads > 1)
        return fail(AGCNN_ERROR_INVALID_ARGUMENT,
                    "set threads: this agcnn was built single-threaded (no OpenMP); use one predictor per thread");
#endif
    return guarded([&] { agcnn::set_num_threads(threads); });
}

agcnn_status agcnn_set_cpu_sharing(int on) {
    if (on != 0 && on != 1) return fail(AGCNN_ERROR_INVALID_ARGUMENT, "set CPU sharing: expected 0 or 1");
    return guarded([&] {
        agcnn::set_cpu_sharing(on == 1);
        agcnn::share_cpus_between_steps();  // the first sample
    });
}

agcnn_status agcnn_predictor_open(const char* model_path, agcnn_predictor** predictor) {
    return open_predictor(model_path, predictor, true);
}

agcnn_status agcnn_predictor_open_unpacked(const char* model_path, agcnn_predictor** predictor) {
    return open_predictor(model_path, predictor, false);
}

void agcnn_predictor_close(agcnn_predictor* predictor) { delete predictor; }

int agcnn_predictor_input_size(const agcnn_predictor* predictor) {
    return predictor ? predictor->predictor.settings().input_size : 0;
}

agcnn_status agcnn_predict_u8(agcnn_predictor* predictor, const uint8_t* pixels, int width, int height,
                              agcnn_result* result, float* heatmap, size_t heatmap_capacity) {
    if (!pixels) return fail(AGCNN_ERROR_INVALID_ARGUMENT, "predict: the pixel buffer is NULL");
    return predict_into(predictor, result, heatmap, heatmap_capacity, [&](const agcnn::app::Predictor& p, bool h) {
        return p.predict_u8(pixels, width, height, h);
    });
}

agcnn_status agcnn_predict_u16(agcnn_predictor* predictor, const uint16_t* pixels, int width, int height,
                               int bits_stored, agcnn_result* result, float* heatmap, size_t heatmap_capacity) {
    if (!pixels) return fail(AGCNN_ERROR_INVALID_ARGUMENT, "predict: the pixel buffer is NULL");
    return predict_into(predictor, result, heatmap, heatmap_capacity, [&](const agcnn::app::Predictor& p, bool h) {
        return p.predict_u16(pixels, width, height, bits_stored, h);
    });
}

agcnn_status agcnn_predict_file(agcnn_predictor* predictor, const char* path, agcnn_result* result,
                                float* heatmap, size_t heatmap_capacity) {
    if (!path) return fail(AGCNN_ERROR_INVALID_ARGUMENT, "predict: the file path is NULL");
    return predict_into(predictor, result, heatmap, heatmap_capacity, [&](const agcnn::app::Predictor& p, bool h) {
        return p.predict_file(path, h);
    });
}

}  // extern "C"
