#!/usr/bin/python3
"""agcnn against PyTorch on the CPU: ResNet-50 training steps and inference, side by side.

    /usr/bin/python3 tools/bench_cpu_vs_pytorch.py --agcnn build/agcnn [--threads 2]
        [--steps 5] [--warmup 2] [--size 224] [--workloads train8,train16,infer1,infer8]
        [--contention 0,1,2] [--competitor spin|compile] [--conv direct,auto] [--rounds 3]

--threads 0 gives each engine its own default thread count (agcnn: the cores this process may
use; PyTorch: its own choice). --contention L1,L2,...: contended mode: every workload is measured
on both engines at each level, level L meaning L competing CPU-bound processes per core (the
cores of this process's affinity mask; --competitor spin, the default: `while True: pass`;
compile: a g++ loop, as on a shared build machine), started by the script before that level's
runs and stopped after them, all in the same run; it prints each engine's images/s at each level and the
share of its idle (level 0) speed kept, and the cores it got (CPU seconds per wall second of its
steps: what the scheduler gave it). A fair share is 1 / (L + 1). For the engines' default
settings, as a user meets them: --threads 0 --omp-wait-policy default.

Each workload runs in a fresh process per engine (so peak resident memory is that workload's):
PyTorch (the python3-torch package, oneDNN) in both memory layouts, contiguous and channels_last,
keeping the faster, and `agcnn bench`. Both engines do the same work: ResNet-50 with global max
pooling and 15 outputs (AG-CNN's global branch), random NHWC/NCHW images, denormals flushed.
Training step: forward in train mode, BCE-with-logits, backward, Adam. Inference: eval mode
without autograd, batch-norm statistics calibrated by one train-mode pass on the same data.
Then `agcnn bench --convs` compares our convolutions with Eigen's SGEMM on the same matrix sizes.
Both engines use GNU OpenMP (libgomp) and run under the same OMP_WAIT_POLICY, passive by default:
on a shared 2-core machine, threads spinning at every barrier take the CPU from the thread that
has work (at batch 1 perf found 55% of the process's CPU time in libgomp's wait loop), which
made both engines 3-6x slower and the ratio erratic. --omp-wait-policy default leaves the
variable unset: libgomp's own default, spinning briefly at a barrier before sleeping, the
fastest setting on an idle machine; active spins much longer.
Prints a table with the ratio agcnn / PyTorch (above 1: agcnn is faster or, for memory, smaller):
wall-clock images/s, and the CPU-bound estimate batch * threads / CPU seconds of the step, which
a shared, loaded machine disturbs much less than wall time. --conv: agcnn's --conv; a comma list
runs agcnn once per value, one after the other, beside the same PyTorch runs (a row each).
--rounds R repeats the measurement R times, the engines alternating within each round, and
reports medians and the spread of the per-round ratio (contended mode: each round measures every
level, and a share divides a level's images/s by the same round's idle images/s): on a virtual machine whose
host's other tenants change its speed from minute to minute (2026-12-02: the same agcnn inference
command gave 20.8, 32.6 and 36.4 images/s within half an hour; 2026-12-03, an AMD EPYC: PyTorch's
training share at one competitor per core was 72% in one contended run and 23% in the next), one
round is not evidence.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time


def torch_worker(mode, batch, size, layout, steps, warmup, threads):
    import resource
    import torch
    import torchvision

    if threads > 0:
        torch.set_num_threads(threads)
    threads = torch.get_num_threads()
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    model = torchvision.models.resnet50(num_classes=15)
    model.avgpool = torch.nn.AdaptiveMaxPool2d(1)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.randn(batch, 3, size, size).to(memory_format=fmt)
    targets = (torch.rand(batch, 15) < 0.5).float()
    if mode == "train":
        model.train()
        adam = torch.optim.Adam(model.parameters())
        loss_fn = torch.nn.BCEWithLogitsLoss()

        def step():
            adam.zero_grad()
            loss_fn(model(x), targets).backward()
            adam.step()
    else:
        bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for m in bns:
            m.momentum = 1.0  # running statistics := this batch's
        with torch.no_grad():
            model.train()(x)
        for m in bns:
            m.momentum = 0.1
        model.eval()

        def step():
            with torch.no_grad():
                model(x)
    for _ in range(warmup):
        step()
    rates, cpu_bound = [], []
    for _ in range(steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        rates.append(batch / (time.perf_counter() - start))
        cpu_bound.append(batch * threads / (time.process_time() - cpu_start))
    rates.sort()
    cpu_bound.sort()
    print(json.dumps({"images_per_s": {"median": rates[len(rates) // 2], "min": rates[0],
                                       "max": rates[-1]},
                      "cpu_bound_images_per_s": cpu_bound[len(cpu_bound) // 2],
                      "threads": threads, "blas": loaded_blas(),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def loaded_blas():
    """The BLAS library this process mapped (Debian's PyTorch calls whatever libblas.so.3 the
    alternatives system points to: the reference BLAS unless e.g. libopenblas0 is installed, and
    its convolutions at batch 1 and its matrix products go through it)."""
    with open("/proc/self/maps") as maps:
        paths = {line.split()[-1] for line in maps if "blas" in line or "libmkl" in line}
    return ", ".join(sorted(os.path.realpath(p) for p in paths)) or "none mapped"


def last_json(command, wait_policy):
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    if wait_policy != "default":
        env["OMP_WAIT_POLICY"] = wait_policy
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def cores_used(run):
    """The CPU time a run's steps got per second of wall time, in cores (from the medians of its
    wall and CPU-bound rates): beside competitors, what the scheduler gave the engine."""
    return run["threads"] * run["images_per_s"]["median"] / run["cpu_bound_images_per_s"]


def load_average():
    return os.getloadavg()[0]


REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Competitors:
    """`per_core` competing processes per core of this process, running while inside `with`.
    kind "spin": `while True: pass`, CPU-bound for ever. kind "compile": a shell loop compiling
    tests/test_ops.cpp with g++ -O2 (about 30 s each on the AMD EPYC), what a shared build
    machine runs: processes that start, fill memory and end. A competitor that stops (g++ or
    doctest missing) ends the measurement with its error."""

    def __init__(self, per_core, kind):
        self.count = per_core * len(os.sched_getaffinity(0))
        self.kind = kind
        self.processes = []

    def command(self, index, scratch):
        if self.kind == "spin":
            return [sys.executable, "-c", "while True: pass"]
        compile_once = (f"g++ -std=c++20 -O2 -fopenmp -I{REPOSITORY}/include -I/usr/include/eigen3 "
                        f"-c {REPOSITORY}/tests/test_ops.cpp -o {scratch}/{index}.o")
        return ["sh", "-c", f"while :; do {compile_once} || exit 1; done"]

    def __enter__(self):
        self.scratch = tempfile.TemporaryDirectory(prefix="agcnn-competitors-")
        self.processes = []
        # Each in a process group of its own, to be stopped with its compiler, but in this session:
        # with the kernel's autogroups (sched_autogroup_enabled) a new session would be a
        # scheduling group of its own, and the CPU would be shared per session, not per process
        # (measured: both engines then got 0.63-0.68 cores beside two compile loops, whatever they
        # did). stderr to a file: a pipe nobody reads would stop the loop when full.
        for i in range(self.count):
            with open(os.path.join(self.scratch.name, f"{i}.err"), "w") as errors:
                self.processes.append(subprocess.Popen(self.command(i, self.scratch.name),
                                                       process_group=0, stderr=errors))
        time.sleep(1 if self.kind == "spin" else 3)  # let them start (a compiler: past its start-up)
        self.check()
        return self

    def check(self):
        for i, p in enumerate(self.processes):
            if p.poll() is not None:
                with open(os.path.join(self.scratch.name, f"{i}.err"), errors="replace") as errors:
                    message = errors.read()[-2000:]
                self.__exit__()
                sys.exit(f"a competitor ({self.kind}) stopped: {message}")

    def __exit__(self, *exc):
        for p in self.processes:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the loop and the compiler it runs
            except ProcessLookupError:
                pass
        for p in self.processes:
            p.wait()
            for _ in range(100):  # until the group's last process (a compiler) is gone, 10 s at most
                try:
                    os.killpg(p.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
        self.processes = []
        self.scratch.cleanup()


def agcnn_command(args, mode, batch, common, conv):
    threads = ["--threads", str(args.threads)] if args.threads > 0 else []
    return ([args.agcnn, "bench", "--model", "resnet50", f"--{mode}", "--batch", str(batch),
             "--size", str(args.size), "--conv", conv] + threads + common)


def torch_command(args, name, layout, common):
    return ([sys.executable, __file__, "--torch-worker", name, layout, "--threads",
             str(args.threads), "--size", str(args.size)] + common)


def pytorch_run(args, name, common, layouts):
    """PyTorch's run of workload `name`: on the first call for it in both memory layouts, keeping
    the faster and recording it in `layouts`, afterwards in that layout only."""
    if name in layouts:
        return last_json(torch_command(args, name, layouts[name], common), args.omp_wait_policy)
    runs = {layout: last_json(torch_command(args, name, layout, common), args.omp_wait_policy)
            for layout in ("contiguous", "channels_last")}
    layouts[name] = max(runs, key=lambda k: runs[k]["images_per_s"]["median"])
    return runs[layouts[name]]


def contended(args, workloads, common):
    levels = [int(x) for x in args.contention.split(",")]
    if levels[0] != 0:
        levels.insert(0, 0)
    layouts = {}  # PyTorch's faster layout per workload, chosen idle
    results = {}  # (name, engine, level) -> [(images/s, cores used, threads)], one per round
    for round_index in range(args.rounds):
        for level in levels:
            with Competitors(level, args.competitor) as competitors:
                for mode, batch in workloads:
                    name = f"{mode}{batch}"
                    torch_run = pytorch_run(args, name, common, layouts)
                    ours = last_json(agcnn_command(args, mode, batch, common, args.conv.split(",")[0]),
                                     args.omp_wait_policy)
                    competitors.check()
                    for engine, run in (("pytorch", torch_run), ("agcnn", ours)):
                        results.setdefault((name, engine, level), []).append(
                            (run["images_per_s"]["median"], cores_used(run), run["threads"]))
                    print(f"round {round_index + 1} {name} at {level} per core: pytorch "
                          f"{torch_run['images_per_s']['median']:.2f} images/s on "
                          f"{cores_used(torch_run):.2f} cores, agcnn "
                          f"{ours['images_per_s']['median']:.2f} on {cores_used(ours):.2f}, "
                          f"load {load_average():.1f}", file=sys.stderr)
    policy = args.omp_wait_policy if args.omp_wait_policy != "default" else "unset"
    print(f"ResNet-50 {args.size}x{args.size}, threads {args.threads or 'engine default'}, "
          f"OMP_WAIT_POLICY {policy}, {len(os.sched_getaffinity(0))} cores, median of "
          f"{args.steps} steps after {args.warmup} warm-up, {args.rounds} round(s); level = "
          f"competing processes per core ({args.competitor}); share = images/s / idle images/s of the same "
          f"round (fair share 1 / (level + 1)), the median over the rounds [lowest, highest]; "
          f"img/s and cores (CPU seconds per wall second of the steps): medians over the rounds")
    print(f"{'workload':<9} {'engine':<8} {'threads':>7} " +
          " ".join(f"{'L' + str(l) + ' img/s':>10} {'cores':>5} {'share':>6} {'[range]':>11}"
                   for l in levels))
    median = statistics.median
    for mode, batch in workloads:
        name = f"{mode}{batch}"
        for engine in ("pytorch", "agcnn"):
            idle = [run[0] for run in results[(name, engine, 0)]]
            cells = []
            for level in levels:
                runs = results[(name, engine, level)]
                shares = [100 * run[0] / base for run, base in zip(runs, idle)]
                spread = f"[{min(shares):.0f},{max(shares):.0f}]"
                cells.append(f"{median(r[0] for r in runs):10.2f} {median(r[1] for r in runs):5.2f} "
                             f"{median(shares):5.0f}% {spread:>11}")
            threads = results[(name, engine, 0)][0][2]
            print(f"{name:<9} {engine:<8} {threads:>7} " + " ".join(cells))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agcnn", default="build/agcnn")
    parser.add_argument("--threads", type=int, default=2, help="0: each engine's default")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--rounds", type=int, default=1,
                        help="repeat the whole measurement, engines alternating (contended mode: every "
                             "level in each round, shares taken within the round)")
    parser.add_argument("--workloads", default="train8,train16,infer1,infer8")
    parser.add_argument("--contention", default="",
                        help="contended mode: competing processes per core, e.g. 0,1,2")
    parser.add_argument("--competitor", default="spin", choices=["spin", "compile"],
                        help="contended mode's competing processes: spin (a CPU-bound loop) or "
                             "compile (a g++ loop over one of this repository's files)")
    parser.add_argument("--conv", default="auto", help="agcnn --conv value(s), comma-separated")
    parser.add_argument("--omp-wait-policy", default="passive", choices=["passive", "default", "active"])
    parser.add_argument("--torch-worker", nargs=2, metavar=("WORKLOAD", "LAYOUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    workloads = [(w.rstrip("0123456789"), int(w.lstrip("traininfer")))
                 for w in args.workloads.split(",")]
    if args.torch_worker:
        (mode, batch), = [(w.rstrip("0123456789"), int(w.lstrip("traininfer")))
                          for w in [args.torch_worker[0]]]
        torch_worker(mode, batch, args.size, args.torch_worker[1], args.steps, args.warmup,
                     args.threads)
        return
    common = ["--steps", str(args.steps), "--warmup", str(args.warmup)]
    if args.contention:
        contended(args, workloads, common)
        return
    # rows[label] = (layout, [PyTorch runs], [agcnn runs]), one run of each per round; the
    # engines alternate within a round, so a change in the machine's speed between rounds (other
    # tenants of a virtual machine's host) moves both, and the per-round ratio keeps its meaning.
    rows = {}
    layouts = {}  # PyTorch's faster layout per workload, chosen in the first round
    for round_index in range(args.rounds):
        for mode, batch in workloads:
            name = f"{mode}{batch}"
            best = pytorch_run(args, name, common, layouts)
            for conv in args.conv.split(","):
                ours = last_json(agcnn_command(args, mode, batch, common, conv), args.omp_wait_policy)
                label = name if "," not in args.conv else f"{name} {conv}"
                row = rows.setdefault(label, (layouts[name], [], []))
                row[1].append(best)
                row[2].append(ours)
                print(f"round {round_index + 1} {label}: pytorch {best['images_per_s']['median']:.2f} "
                      f"({layouts[name]}), agcnn {ours['images_per_s']['median']:.2f} images/s, "
                      f"load {load_average():.1f}", file=sys.stderr)
    threads = ["--threads", str(args.threads)] if args.threads > 0 else []
    convs = last_json([args.agcnn, "bench", "--convs", "--batch", "8", "--size", str(args.size),
                       "--steps", "3"] + threads, args.omp_wait_policy)

    blas = next(iter(rows.values()))[1][0]["blas"]
    reference = "/blas/libblas" in blas  # Debian's reference BLAS (OpenBLAS's is openblas-*/)
    print(f"PyTorch's BLAS: {blas}" + (" (the one-thread reference BLAS: install "
                                       "libopenblas0-pthread, docs/benchmarks.md)" if reference else ""))
    print(f"ResNet-50 {args.size}x{args.size}, {args.threads} threads, median of {args.steps} "
          f"steps after {args.warmup} warm-up, OMP_WAIT_POLICY={args.omp_wait_policy if args.omp_wait_policy != 'default' else 'unset (libgomp default)'}, "
          f"{args.rounds} round(s): each figure is the median over the rounds, the ratio the median of "
          f"the rounds' ratios [lowest, highest]")
    print(f"{'workload':<16} {'pytorch img/s':>13} {'layout':>13} {'agcnn img/s':>11} "
          f"{'ratio':>6} {'[range]':>11} {'cpu-bound: pytorch':>18} {'agcnn':>6} {'ratio':>6} "
          f"{'pytorch MB':>10} {'agcnn MB':>8} {'mem ratio':>9}")

    median = statistics.median
    for label, (layout, theirs, ours) in rows.items():
        rate = [r["images_per_s"]["median"] for r in theirs], [r["images_per_s"]["median"] for r in ours]
        bound = [r["cpu_bound_images_per_s"] for r in theirs], [r["cpu_bound_images_per_s"] for r in ours]
        memory = [r["peak_rss_mb"] for r in theirs], [r["peak_rss_mb"] for r in ours]
        ratios = [a / p for p, a in zip(*rate)]
        spread = f"[{min(ratios):.2f},{max(ratios):.2f}]"
        print(f"{label:<16} {median(rate[0]):13.2f} {layout:>13} {median(rate[1]):11.2f} "
              f"{median(ratios):6.2f} {spread:>11} {median(bound[0]):18.2f} {median(bound[1]):6.2f} "
              f"{median([a / p for p, a in zip(*bound)]):6.2f} {median(memory[0]):10.0f} "
              f"{median(memory[1]):8.0f} {median(memory[0]) / median(memory[1]):9.2f}")
    print(f"convolutions alone (batch 8): {convs['conv_gflop_per_s']:.1f} GFLOP/s, Eigen SGEMM "
          f"{convs['sgemm_gflop_per_s']:.1f} GFLOP/s on the same sizes: "
          f"{100 * convs['conv_vs_sgemm']:.0f}% (by CPU time: "
          f"{100 * convs['conv_vs_sgemm_cpu_time']:.0f}%)")


if __name__ == "__main__":
    main()
