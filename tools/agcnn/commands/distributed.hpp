// The process's place in a data-parallel run (docs/distributed.md): under an MPI launcher
// (`mpirun -np N agcnn train ...`, `srun agcnn train ...`) the MPI communicator, else a run of
// one. This is the one file of the command line that reads AGCNN_WITH_MPI (tools/CMakeLists.txt
// sets it and links MPI when CMake finds MPI); a build without MPI trains in one process.
#pragma once

#include <cstdio>
#include <exception>
#include <functional>

#ifdef AGCNN_WITH_MPI
#include "agcnn/train/mpi_communicator.hpp"
#endif
#include "agcnn/train/communicator.hpp"

namespace agcnn::cli {

// MPI starts on the first call (a process without a launcher is a run of one) and ends at exit.
inline train::Communicator& process_communicator() {
#ifdef AGCNN_WITH_MPI
    static train::MpiCommunicator mpi;
    return mpi;
#else
    return train::single_process();
#endif
}

// Runs `work`; in a run of several processes, an error on this rank is printed with the rank and
// ends every process of the run (a rank left waiting in a collective would hang otherwise).
inline void run_on_every_rank(train::Communicator& comm, const std::function<void()>& work) {
    if (comm.size() == 1) return work();
    try {
        work();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "\nagcnn: error on rank %d of %d: %s; stopping every process of the run\n", comm.rank(),
                     comm.size(), e.what());
        std::fflush(stderr);
#ifdef AGCNN_WITH_MPI
        static_cast<train::MpiCommunicator&>(comm).abort(1);
#endif
        throw;
    }
}

}  // namespace agcnn::cli
