// kernels/nccl.cu — backend/cuda.hpp's NCCL group: the one NCCL communicator of a data-parallel
// run (train/mpi_communicator.hpp makes the ranks join it), gradient sums on a stream of their
// own, and broadcasts. Built into agcnn_cuda only when the toolkit has NCCL (kernels/CMakeLists.txt).
//
// Overlap: nccl_start_sum records an event on the device's compute stream and makes NCCL's
// stream wait for it, so the sum reads the bucket once the copies into it are done, while later
// compute (the rest of backward) runs on; nccl_wait makes the compute stream wait for NCCL's, so
// whatever reads the sums afterwards is ordered after them. Bucket buffers live for the whole run
// (train/gradient_reducer.hpp), so no memory is handed back while a sum may still read it.
#include <nccl.h>

#include <string>

#include "agcnn/backend/cuda.hpp"
#include "kernels/runtime.cuh"

#define AGCNN_NCCL_CHECK(call)                                                                         \
    do {                                                                                               \
        const ncclResult_t agcnn_status_ = (call);                                                     \
        if (agcnn_status_ != ncclSuccess)                                                              \
            ::agcnn::cuda::detail::fail("NCCL", ncclGetErrorString(agcnn_status_), #call, __FILE__, __LINE__); \
    } while (0)

namespace agcnn::cuda {

namespace {
struct NcclState {
    ncclComm_t comm = nullptr;
    int device = -1;
    cudaStream_t stream = nullptr;          // NCCL's own
    cudaEvent_t compute_ready = nullptr;    // the compute stream reached a sum
    cudaEvent_t sums_done = nullptr;        // NCCL's stream finished the sums started
};
NcclState& nccl() {
    static NcclState state;
    return state;
}
NcclState& joined(int device) {
    NcclState& s = nccl();
    AGCNN_CHECK(s.comm != nullptr && s.device == device, "NCCL: cuda:", device, " has not joined the run's communicator");
    return s;
}
}  // namespace

std::string nccl_unique_id() {
    ncclUniqueId id;
    AGCNN_NCCL_CHECK(ncclGetUniqueId(&id));
    return std::string(id.internal, sizeof id.internal);
}

void nccl_init(const std::string& unique_id, int rank, int ranks, int device) {
    NcclState& s = nccl();
    AGCNN_CHECK(s.comm == nullptr, "NCCL: this process has joined a communicator already");
    ncclUniqueId id;
    AGCNN_CHECK(unique_id.size() == sizeof id.internal, "NCCL: a unique id of ", unique_id.size(), " bytes, expected ",
                sizeof id.internal);
    std::copy(unique_id.begin(), unique_id.end(), id.internal);
    DeviceScope scope(device);
    AGCNN_NCCL_CHECK(ncclCommInitRank(&s.comm, ranks, id, rank));
    AGCNN_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    AGCNN_CUDA_CHECK(cudaEventCreateWithFlags(&s.compute_ready, cudaEventDisableTiming));
    AGCNN_CUDA_CHECK(cudaEventCreateWithFlags(&s.sums_done, cudaEventDisableTiming));
    s.device = device;
}

void nccl_start_sum(float* data, std::int64_t n, int device) {
    NcclState& s = joined(device);
    DeviceScope scope(device);
    AGCNN_CUDA_CHECK(cudaEventRecord(s.compute_ready, stream(device)));
    AGCNN_CUDA_CHECK(cudaStreamWaitEvent(s.stream, s.compute_ready, 0));
    AGCNN_NCCL_CHECK(ncclAllReduce(data, data, static_cast<std::size_t>(n), ncclFloat, ncclSum, s.comm, s.stream));
}

void nccl_wait(int device) {
    NcclState& s = joined(device);
    DeviceScope scope(device);
    AGCNN_CUDA_CHECK(cudaEventRecord(s.sums_done, s.stream));
    AGCNN_CUDA_CHECK(cudaStreamWaitEvent(stream(device), s.sums_done, 0));
}

void nccl_broadcast(float* data, std::int64_t n, int device) {
    NcclState& s = joined(device);
    DeviceScope scope(device);
    AGCNN_NCCL_CHECK(ncclBroadcast(data, data, static_cast<std::size_t>(n), ncclFloat, 0, s.comm, stream(device)));
}

void nccl_finalize() {
    NcclState& s = nccl();
    if (s.comm == nullptr) return;
    DeviceScope scope(s.device);
    cudaStreamSynchronize(s.stream);
    ncclCommDestroy(s.comm);
    cudaEventDestroy(s.compute_ready);
    cudaEventDestroy(s.sums_done);
    cudaStreamDestroy(s.stream);
    s = NcclState{};
}

}  // namespace agcnn::cuda
