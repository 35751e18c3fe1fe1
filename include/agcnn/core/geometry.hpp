// agcnn/core/geometry.hpp — the sizes of a convolution and of a pooling window, and the one box
// type of the whole engine; shared by the CPU kernels, the CUDA backend and the model (so this
// header includes neither Eigen nor CUDA).
#pragma once

#include <algorithm>
#include <cstdint>

#include "agcnn/core/error.hpp"
#include "agcnn/core/tensor.hpp"

namespace agcnn {

struct ConvGeometry {
    std::int64_t n, h, w, c;      // input
    std::int64_t o, kh, kw;       // filters
    std::int64_t stride, pad;
    std::int64_t oh, ow;          // output
    std::int64_t k() const { return kh * kw * c; }
    bool is_pointwise() const { return kh == 1 && kw == 1 && stride == 1 && pad == 0; }
};

inline ConvGeometry conv_geometry(const Shape& x, const Shape& w, std::int64_t stride,
                                  std::int64_t pad) {
    AGCNN_CHECK(x.size() == 4, "conv2d: input must be [N, H, W, C], got ", shape_str(x));
    AGCNN_CHECK(w.size() == 4, "conv2d: weight must be [O, KH, KW, C], got ", shape_str(w));
    AGCNN_CHECK(x[3] == w[3], "conv2d: input ", shape_str(x), " has ", x[3],
                " channels but weight ", shape_str(w), " expects ", w[3]);
    AGCNN_CHECK(stride >= 1 && pad >= 0, "conv2d: bad stride ", stride, " or padding ", pad);
    AGCNN_CHECK(x[1] + 2 * pad >= w[1] && x[2] + 2 * pad >= w[2], "conv2d: input ",
                shape_str(x), " is smaller than the kernel ", shape_str(w));
    const std::int64_t oh = (x[1] + 2 * pad - w[1]) / stride + 1;
    const std::int64_t ow = (x[2] + 2 * pad - w[2]) / stride + 1;
    return {x[0], x[1], x[2], x[3], w[0], w[1], w[2], stride, pad, oh, ow};
}

struct PoolGeometry {
    std::int64_t n, h, w, c, kernel, stride, pad, oh, ow;
};

inline PoolGeometry pool_geometry(const Shape& x, std::int64_t kernel, std::int64_t stride,
                                  std::int64_t pad) {
    AGCNN_CHECK(x.size() == 4, "max_pool2d: expected [N, H, W, C], got ", shape_str(x));
    AGCNN_CHECK(kernel > 0 && stride > 0 && pad >= 0 && 2 * pad <= kernel,
                "max_pool2d: bad kernel ", kernel, " stride ", stride, " padding ", pad);
    const std::int64_t oh = (x[1] + 2 * pad - kernel) / stride + 1;
    const std::int64_t ow = (x[2] + 2 * pad - kernel) / stride + 1;
    AGCNN_CHECK(x[1] + 2 * pad >= kernel && x[2] + 2 * pad >= kernel,
                "max_pool2d: input ", shape_str(x), " smaller than the kernel ", kernel);
    return {x[0], x[1], x[2], x[3], kernel, stride, pad, oh, ow};
}

// A box in pixels, half-open: x0 <= x < x1, y0 <= y < y1, in the frame its owner states (the
// network input for the attention box, a source image for a crop or an annotation). The attention
// box and every crop box have integer edges; annotated boxes (BBox_List_2017.csv) need not.
struct Box {
    double x0 = 0, y0 = 0, x1 = 0, y1 = 0;

    // From BBox_List_2017.csv's convention: top-left corner, width, height.
    static Box from_xywh(double x, double y, double w, double h) { return {x, y, x + w, y + h}; }
    double width() const { return x1 - x0; }
    double height() const { return y1 - y0; }
    double area() const { return std::max(0.0, width()) * std::max(0.0, height()); }
    bool operator==(const Box&) const = default;
};

}  // namespace agcnn
