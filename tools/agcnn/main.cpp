// agcnn — the command line. Thin by design: each command parses flags, calls into the headers,
// and prints. Every agcnn::Error becomes one line on stderr and exit code 1; a flag error
// exits with CLI11's code (usage on stderr).
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "commands/bench.hpp"
#include "commands/data.hpp"
#include "commands/demo.hpp"
#include "commands/eval.hpp"
#include "commands/export.hpp"
#include "commands/forward_grad.hpp"
#include "commands/predict.hpp"
#include "commands/train.hpp"
#include "commands/verify.hpp"
#include "progress.hpp"

// Threads that share the machine well by default (docs/benchmarks.md, change 19). At each
// barrier libgomp's idle threads spin for up to 300,000 rounds (about 10 ms measured here)
// before they sleep: on a machine shared with other work that spinning takes the CPU from the
// thread with work, and both engines collapsed. OMP_WAIT_POLICY=passive makes them sleep at once.
// libgomp reads its environment once, when it is loaded, before main() runs (a setenv() here
// alone changes nothing: measured), so when the user has set neither OMP_WAIT_POLICY nor
// GOMP_SPINCOUNT the program sets the policy and executes itself again; the second run finds it
// set. If that exec fails, the run goes on with libgomp's default. With OMP_PROC_BIND set, libgomp
// has bound this thread to its first place: the mask is widened back first, or the second run
// would see one place (measured: 1 thread on 2 cores, --threads 2 capped to 1).
static void wait_without_spinning(char** argv) {
    if (std::getenv("OMP_WAIT_POLICY") != nullptr || std::getenv("GOMP_SPINCOUNT") != nullptr) return;
    setenv("OMP_WAIT_POLICY", "passive", 1);
    agcnn::widen_affinity_to_omp_places();  // OMP_PROC_BIND bound this thread to one place
    execv("/proc/self/exe", argv);
}

// Threads kept together while other processes busy our cores (core/cpu_sharing.hpp): on unless
// AGCNN_CPU_SHARING=off or the user places the threads (OMP_PROC_BIND, OMP_PLACES). False, with
// the message printed, for a setting that is neither on nor off.
static bool share_cpus_by_default() {
    const char* setting = std::getenv("AGCNN_CPU_SHARING");
    const std::string value = setting != nullptr ? setting : "on";
    if (value != "on" && value != "off") {
        std::fprintf(stderr, "agcnn: error: AGCNN_CPU_SHARING=%s: expected on or off\n", value.c_str());
        return false;
    }
    agcnn::set_cpu_sharing(value == "on" && std::getenv("OMP_PROC_BIND") == nullptr &&
                           std::getenv("OMP_PLACES") == nullptr);
    agcnn::share_cpus_between_steps();  // the first sample: the first forward can decide
    return true;
}

int main(int argc, char** argv) {
    wait_without_spinning(argv);
    if (!share_cpus_by_default()) return 1;
    std::string command_line = "agcnn";  // recorded in results.json
    for (int i = 1; i < argc; ++i) command_line += std::string(" ") + argv[i];
    CLI::App app{"agcnn: attention-guided CNN for thorax disease classification (ChestX-ray14)"};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string("agcnn ") + AGCNN_VERSION);
    agcnn::cli::add_bench_command(app);
    agcnn::cli::add_data_commands(app);
    agcnn::cli::add_forward_grad_commands(app);
    agcnn::cli::add_train_command(app);
    agcnn::cli::add_eval_command(app, command_line);
    agcnn::cli::add_export_command(app);
    agcnn::cli::add_predict_command(app);
    agcnn::cli::add_demo_command(app);
    agcnn::cli::add_verify_command(app);
    std::string commands;
    bool known = false;
    for (const CLI::App* c : app.get_subcommands({})) {
        commands += (commands.empty() ? "" : ", ") + c->get_name();
        known = known || (argc > 1 && c->get_name() == argv[1]);
    }
    if (argc > 1 && argv[1][0] != '-' && !known) {
        std::fprintf(stderr, "agcnn: error: unknown command '%s'; the commands are: %s\n", argv[1], commands.c_str());
        return 1;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        agcnn::cli::end_progress_line();
        return app.exit(e);
    } catch (const std::exception& e) {
        agcnn::cli::end_progress_line();
        std::fprintf(stderr, "agcnn: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
