// agcnn/core/tensor.hpp — the float32 tensor: a shape, a shared storage, and autograd fields.
//
// A Tensor is a cheap handle (shared_ptr) to a TensorImpl. Copies of a Tensor share everything;
// `detach()` makes a new impl over the same storage without autograd history; `clone()` copies
// the data. Tensors are always contiguous (row-major over their shape). Images are NHWC.
//
// Autograd fields: `requires_grad` marks a tensor whose gradient is wanted; `grad()` holds the
// accumulated gradient after backward (undefined until then, like PyTorch's None); `grad_fn` is
// the node of the op that produced the tensor (null for leaves). See autograd/backward.hpp.
#pragma once

#include <cstdint>
#include <memory>
#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "agcnn/core/device.hpp"
#include "agcnn/core/error.hpp"

namespace agcnn {

using Shape = std::vector<std::int64_t>;

inline std::string shape_str(const Shape& shape) {
    std::string out = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        if (i) out += ", ";
        out += std::to_string(shape[i]);
    }
    return out + "]";
}

inline std::int64_t shape_numel(const Shape& shape) {
    std::int64_t count = 1;
    for (std::int64_t d : shape) {
        AGCNN_CHECK(d >= 0, "negative dimension in shape ", shape_str(shape));
        count *= d;
    }
    return count;
}

// Raw memory on one device; freed when the last tensor that uses it goes away.
class Storage {
public:
    Storage(std::size_t bytes, Device device)
        : data_(allocate_bytes(bytes, device)), bytes_(bytes), device_(device) {}
    ~Storage() { release_bytes(data_, bytes_, device_); }
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    void* data() const { return data_; }
    std::size_t bytes() const { return bytes_; }
    Device device() const { return device_; }

private:
    void* data_;
    std::size_t bytes_;
    Device device_;
};

struct Node;  // autograd/node.hpp
struct TensorImpl;

// What autograd knows of a tensor. It lives apart from the data: the graph refers to an op's
// inputs through this record only, so an intermediate result whose values backward does not need
// (batch norm's output, read by relu's forward only) is freed as soon as the forward moves on.
struct AutogradMeta {
    Shape shape;                          // of the tensor, to check gradients against
    bool requires_grad = false;
    std::shared_ptr<TensorImpl> grad;     // accumulated gradient (null until backward)
    std::shared_ptr<Node> grad_fn;        // the op that produced the tensor (null for leaves)
};

struct TensorImpl {
    Shape shape;
    std::shared_ptr<Storage> storage;
    std::int64_t offset = 0;  // in floats, into storage
    std::shared_ptr<AutogradMeta> autograd;  // null: no autograd history, no gradient wanted
};

class Tensor {
public:
    Tensor() = default;
    explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

    // Uninitialised memory of the given shape.
    static Tensor empty(const Shape& shape, Device device = Device::cpu()) {
        auto impl = std::make_shared<TensorImpl>();
        impl->shape = shape;
        impl->storage = std::make_shared<Storage>(
            static_cast<std::size_t>(shape_numel(shape)) * sizeof(float), device);
        return Tensor(std::move(impl));
    }
    static Tensor zeros(const Shape& shape, Device device = Device::cpu()) {
        Tensor t = empty(shape, device);
        t.fill_zero();
        return t;
    }
    static Tensor full(const Shape& shape, float value) {
        Tensor t = empty(shape);
        std::fill(t.data(), t.data() + t.numel(), value);
        return t;
    }
    static Tensor from_vector(const Shape& shape, const std::vector<float>& values) {
        AGCNN_CHECK(static_cast<std::int64_t>(values.size()) == shape_numel(shape), "shape ",
                    shape_str(shape), " needs ", shape_numel(shape), " values, got ",
                    values.size());
        Tensor t = empty(shape);
        std::copy(values.begin(), values.end(), t.data());
        return t;
    }

    bool defined() const { return impl_ != nullptr; }
    const Shape& shape() const { return impl().shape; }
    int rank() const { return static_cast<int>(impl().shape.size()); }
    std::int64_t dim(int i) const {
        const int r = rank();
        if (i < 0) i += r;
        AGCNN_CHECK(i >= 0 && i < r, "dimension ", i, " out of range for shape ",
                    shape_str(shape()));
        return impl().shape[static_cast<std::size_t>(i)];
    }
    std::int64_t numel() const { return shape_numel(impl().shape); }
    Device device() const { return impl().storage->device(); }

    float* data() const {
        return static_cast<float*>(impl().storage->data()) + impl().offset;
    }
    // Element access for CPU tensors (tests and small host-side code; not for hot loops).
    float& at(std::int64_t flat_index) const { return data()[flat_index]; }
    float item() const {
        AGCNN_CHECK(numel() == 1, "item() needs a one-element tensor, got ", shape_str(shape()));
        return to_vector()[0];
    }
    std::vector<float> to_vector() const {
        std::vector<float> out(static_cast<std::size_t>(numel()));
        copy_bytes(out.data(), Device::cpu(), data(), device(), out.size() * sizeof(float));
        return out;
    }

    void fill_zero() const {
        fill_zero_bytes(data(), static_cast<std::size_t>(numel()) * sizeof(float), device());
    }

    // A copy of the data on `device` (a new storage, no autograd history).
    Tensor to(Device device) const {
        Tensor out = empty(shape(), device);
        copy_bytes(out.data(), device, data(), this->device(),
                   static_cast<std::size_t>(numel()) * sizeof(float));
        return out;
    }
    Tensor clone() const { return to(device()); }

    // Same storage, no autograd history.
    Tensor detach() const {
        auto impl = std::make_shared<TensorImpl>();
        impl->shape = shape();
        impl->storage = this->impl().storage;
        impl->offset = this->impl().offset;
        return Tensor(std::move(impl));
    }

    // Same storage, another shape of the same size, no autograd history. The engine has no
    // differentiable reshape (no op needs one: global pooling yields [N, C] directly), so a view
    // is for data outside the graph.
    Tensor view(const Shape& new_shape) const {
        AGCNN_CHECK(shape_numel(new_shape) == numel(), "cannot view shape ", shape_str(shape()),
                    " as ", shape_str(new_shape));
        Tensor out = detach();
        out.impl_->shape = new_shape;
        return out;
    }

    // Rows [begin, end) of the first dimension, sharing storage, no autograd history.
    Tensor slice_rows(std::int64_t begin, std::int64_t end) const {
        AGCNN_CHECK(rank() >= 1 && begin >= 0 && begin <= end && end <= dim(0), "bad row slice [",
                    begin, ", ", end, ") of shape ", shape_str(shape()));
        Tensor out = detach();
        const std::int64_t row = dim(0) == 0 ? 0 : numel() / dim(0);
        out.impl_->shape[0] = end - begin;
        out.impl_->offset += begin * row;
        return out;
    }

    bool requires_grad() const { return impl().autograd && impl().autograd->requires_grad; }
    Tensor& set_requires_grad(bool on) {
        AGCNN_CHECK(is_leaf(), "set_requires_grad applies to leaf tensors only");
        autograd().requires_grad = on;
        return *this;
    }
    // The accumulated gradient; undefined before the first backward pass or after zero_grad.
    Tensor grad() const { return impl().autograd ? Tensor(impl().autograd->grad) : Tensor(); }
    void set_grad(const Tensor& g) const { autograd().grad = g.impl_; }
    std::shared_ptr<Node> grad_fn() const {
        return impl().autograd ? impl().autograd->grad_fn : nullptr;
    }
    bool is_leaf() const { return grad_fn() == nullptr; }
    // The autograd record, created on first use.
    AutogradMeta& autograd() const {
        auto& meta = impl().autograd;
        if (!meta) {
            meta = std::make_shared<AutogradMeta>();
            meta->shape = impl().shape;
        }
        return *meta;
    }

    TensorImpl& impl() const {
        AGCNN_CHECK(impl_ != nullptr, "use of an undefined tensor");
        return *impl_;
    }
    const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

private:
    std::shared_ptr<TensorImpl> impl_;
};

// Throws an error naming both shapes when they differ.
inline void check_same_shape(const Tensor& a, const Tensor& b, const char* what) {
    AGCNN_CHECK(a.shape() == b.shape(), what, ": shapes differ: ", shape_str(a.shape()), " vs ",
                shape_str(b.shape()));
}

inline void check_same_device(const Tensor& a, const Tensor& b, const char* what) {
    AGCNN_CHECK(a.device() == b.device(), what, ": tensors on different devices: ",
                a.device().str(), " vs ", b.device().str());
}

inline void check_rank(const Tensor& t, int rank, const char* what) {
    AGCNN_CHECK(t.rank() == rank, what, ": expected a rank-", rank, " tensor, got shape ",
                shape_str(t.shape()));
}

}  // namespace agcnn
