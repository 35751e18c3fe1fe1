// The process's place in a data-parallel run (docs/distributed.md): under an MPI launcher
// (`mpirun -np N agcnn train ...`, `srun agcnn train ...`) the MPI communicator, else a run of
// one. This is the one file of the command line that reads AGCNN_WITH_MPI (tools/CMakeLists.txt
// sets it and links MPI when CMake finds MPI); a build without MPI trains in one process.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <string>

#ifdef AGCNN_WITH_MPI
#include "agcnn/train/mpi_communicator.hpp"
#endif
#include "agcnn/train/communicator.hpp"

namespace agcnn::cli {

// True when an MPI launcher started this process, known from the variables every launcher sets
// in its processes' environment: OpenMPI's mpirun (OMPI_COMM_WORLD_SIZE), PMIx (PMIX_RANK),
// MPICH, Intel MPI and MVAPICH's hydra (PMI_RANK), Slurm's srun (SLURM_PROCID). AGCNN_MPI=1 or 0
// overrides the guess (another launcher; a script that sets those variables for other reasons).
// Without a launcher MPI is not started at all: OpenMPI's singleton start costs 0.2-0.5 s of
// waiting per `agcnn train` (measured 2026-12-02 with ess_singleton_isolated) and gives a run of
// one, which single_process() is.
inline bool started_by_mpi_launcher() {
    if (const char* forced = std::getenv("AGCNN_MPI")) return std::string(forced) == "1";
    for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
        if (std::getenv(name) != nullptr) return true;
    return false;
}

// The MPI communicator under a launcher (MPI starts on the first call and ends at exit), else a
// run of one.
inline train::Communicator& process_communicator() {
#ifdef AGCNN_WITH_MPI
    if (started_by_mpi_launcher()) {
        static train::MpiCommunicator mpi;
        return mpi;
    }
#endif
    return train::single_process();
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
