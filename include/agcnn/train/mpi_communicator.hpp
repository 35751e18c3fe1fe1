// agcnn/train/mpi_communicator.hpp — the Communicator (train/communicator.hpp) of a run started by
// an MPI launcher (mpirun, srun; docs/distributed.md): MPI_Iallreduce on CPU tensors, NCCL on
// CUDA tensors. It includes <mpi.h>: only programs built with MPI include it (the agcnn command
// line does when CMake finds MPI); the rest of the engine never sees MPI.
//
// The constructor initialises MPI (unless the program has); the command line constructs it only
// when a launcher started the process (tools/agcnn/commands/distributed.hpp), and a process
// started without one would be a run of one (MPI's singleton start). Only
// the training thread calls MPI (MPI_THREAD_FUNNELED). The run's collectives use a duplicate of
// MPI_COMM_WORLD whose errors return codes, which become agcnn::Error; abort() ends every
// process of the run (MPI_Abort), which is how one failed rank stops the others.
// CPU sums: each bucket is one MPI_Iallreduce (MPI_SUM on floats, in place), advanced by
// MPI_Testall from progress() and completed by MPI_Waitall. (MPI implementations move a
// non-blocking collective mostly inside MPI calls, hence progress() between backward's ops.)
// CUDA sums (kCudaBuilt and kNcclBuilt): on the first one, rank 0 makes an NCCL unique id, MPI
// broadcasts it and every rank joins one NCCL communicator on its device (as llm.c does); sums run
// on NCCL's own stream after the compute stream's work so far, and wait_sums() makes the compute
// stream wait for them.
#pragma once

#include <mpi.h>

#include <climits>
#include <cstdlib>
#include <string>
#include <vector>

#include "agcnn/backend/cuda.hpp"
#include "agcnn/core/build.hpp"
#include "agcnn/core/error.hpp"
#include "agcnn/train/communicator.hpp"

namespace agcnn::train {

class MpiCommunicator final : public Communicator {
public:
    MpiCommunicator() {
        int initialized = 0;
        MPI_Initialized(&initialized);
        if (!initialized) {
            // OpenMPI's start without a launcher, with no helper daemon (0.7 s less per start; a
            // run of one spawns nothing). A value the user set is kept.
            ::setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
            int provided = 0;
            AGCNN_CHECK(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) == MPI_SUCCESS,
                        "MPI_Init_thread failed");
            owns_mpi_ = true;
        }
        check(MPI_Comm_dup(MPI_COMM_WORLD, &comm_), "MPI_Comm_dup");
        check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
        check(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
        check(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
        MPI_Comm node;
        check(MPI_Comm_split_type(comm_, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &node), "MPI_Comm_split_type");
        check(MPI_Comm_rank(node, &local_rank_), "MPI_Comm_rank");
        MPI_Comm_free(&node);
    }
    ~MpiCommunicator() override {
        if constexpr (kCudaBuilt && kNcclBuilt)
            if (nccl_device_ >= 0) cuda::nccl_finalize();
        MPI_Comm_free(&comm_);
        if (owns_mpi_) MPI_Finalize();
    }
    MpiCommunicator(const MpiCommunicator&) = delete;
    MpiCommunicator& operator=(const MpiCommunicator&) = delete;

    int rank() const override { return rank_; }
    int size() const override { return size_; }
    int local_rank() const override { return local_rank_; }

    void start_sum(float* data, std::int64_t count, Device device) override {
        if (device.is_cuda()) {
            if constexpr (kCudaBuilt && kNcclBuilt) {
                join_nccl(device.index);
                cuda::nccl_start_sum(data, count, device.index);
                nccl_pending_ = true;
                return;
            }
            throw Error("data-parallel training on " + device.str() + " needs NCCL, and this build has none "
                        "(build with the CUDA toolkit's NCCL; docs/distributed.md)");
        }
        AGCNN_CHECK(count <= INT_MAX, "a gradient bucket of ", count, " floats is too large for MPI");
        requests_.emplace_back();
        check(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_FLOAT, MPI_SUM, comm_,
                             &requests_.back()),
              "MPI_Iallreduce");
    }
    void progress() override {
        int done = 0;
        if (!requests_.empty())
            check(MPI_Testall(static_cast<int>(requests_.size()), requests_.data(), &done, MPI_STATUSES_IGNORE),
                  "MPI_Testall");
    }
    void wait_sums() override {
        if (!requests_.empty())
            check(MPI_Waitall(static_cast<int>(requests_.size()), requests_.data(), MPI_STATUSES_IGNORE),
                  "MPI_Waitall");
        requests_.clear();
        if constexpr (kCudaBuilt && kNcclBuilt)
            if (nccl_pending_) cuda::nccl_wait(nccl_device_), nccl_pending_ = false;
    }
    void broadcast(float* data, std::int64_t count, Device device) override {
        if (device.is_cuda()) {
            if constexpr (kCudaBuilt && kNcclBuilt) {
                join_nccl(device.index);
                return cuda::nccl_broadcast(data, count, device.index);
            }
            throw Error("data-parallel training on " + device.str() + " needs NCCL, and this build has none");
        }
        AGCNN_CHECK(count <= INT_MAX, "a broadcast of ", count, " floats is too large for MPI");
        check(MPI_Bcast(data, static_cast<int>(count), MPI_FLOAT, 0, comm_), "MPI_Bcast");
    }
    void sum(double* values, int count) override {
        check(MPI_Allreduce(MPI_IN_PLACE, values, count, MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
    }
    void barrier() override { check(MPI_Barrier(comm_), "MPI_Barrier"); }

    // Ends every process of the run with `code` (after this rank's error was printed).
    [[noreturn]] void abort(int code) {
        MPI_Abort(MPI_COMM_WORLD, code);
        std::_Exit(code);
    }

private:
    void check(int code, const char* call) const {
        if (code == MPI_SUCCESS) return;
        char text[MPI_MAX_ERROR_STRING];
        int length = 0;
        MPI_Error_string(code, text, &length);
        throw Error(std::string(call) + " failed on rank " + std::to_string(rank_) + ": " +
                    std::string(text, static_cast<std::size_t>(length)));
    }

    // One NCCL communicator per run: rank 0's unique id, broadcast over MPI.
    void join_nccl(int device) {
        if (nccl_device_ == device) return;
        AGCNN_CHECK(nccl_device_ < 0, "NCCL: one device per process (cuda:", nccl_device_, " already, now cuda:",
                    device, ")");
        if constexpr (kCudaBuilt && kNcclBuilt) {
            std::string id = rank_ == 0 ? cuda::nccl_unique_id() : std::string();
            int length = static_cast<int>(id.size());
            check(MPI_Bcast(&length, 1, MPI_INT, 0, comm_), "MPI_Bcast");
            id.resize(static_cast<std::size_t>(length));
            check(MPI_Bcast(id.data(), length, MPI_CHAR, 0, comm_), "MPI_Bcast");
            cuda::nccl_init(id, rank_, size_, device);
        }
        nccl_device_ = device;
    }

    MPI_Comm comm_ = MPI_COMM_NULL;
    int rank_ = 0, size_ = 1, local_rank_ = 0;
    bool owns_mpi_ = false;
    std::vector<MPI_Request> requests_;
    int nccl_device_ = -1;
    bool nccl_pending_ = false;
};

}  // namespace agcnn::train
