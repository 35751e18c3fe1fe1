// agcnn/train/communicator.hpp — what data-parallel training needs from the processes of a run
// (docs/distributed.md), as one small interface; the run of one process is SingleProcess, the
// MPI run is train/mpi_communicator.hpp (MPI_Iallreduce on CPU tensors, NCCL on CUDA tensors).
//
// Contract: every rank makes the same calls in the same order (collectives).
//   start_sum(data, n, device)  starts summing n floats in place across the ranks; the sum is
//                               done when wait_sums() returns (progress() may advance it while
//                               the caller computes). Every rank ends with the same values.
//   broadcast(data, n, device)  rank 0's n floats to every rank (blocking).
//   sum(values, n)              sums n doubles in place across the ranks (blocking; small).
//   barrier()                   returns when every rank has called it.
// local_rank() is the rank among the processes on this machine (which GPU a rank takes).
#pragma once

#include <cstdint>

#include "agcnn/core/device.hpp"

namespace agcnn::train {

class Communicator {
public:
    virtual ~Communicator() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    virtual int local_rank() const = 0;
    virtual void start_sum(float* data, std::int64_t count, Device device) = 0;
    virtual void progress() {}
    virtual void wait_sums() = 0;
    virtual void broadcast(float* data, std::int64_t count, Device device) = 0;
    virtual void sum(double* values, int count) = 0;
    virtual void barrier() = 0;
};

// A run of one process: every collective is the identity.
class SingleProcess final : public Communicator {
public:
    int rank() const override { return 0; }
    int size() const override { return 1; }
    int local_rank() const override { return 0; }
    void start_sum(float*, std::int64_t, Device) override {}
    void wait_sums() override {}
    void broadcast(float*, std::int64_t, Device) override {}
    void sum(double*, int) override {}
    void barrier() override {}
};

inline Communicator& single_process() {
    static SingleProcess one;
    return one;
}

}  // namespace agcnn::train
