// agcnn/app/manifest.hpp — RUN/manifest.json: where a run came from, and the sha256 of every file
// it read and wrote; verify_run() hashes them again (`agcnn verify RUN`).
//
// Written (atomically, replacing the last one) at the end of `agcnn train` and of `agcnn eval`:
//   software   version and commit
//   build      compiler, its flags, whether the CUDA backend is linked
//   cpu        the matrix-product kernel set chosen at run time and the thread count (both change
//              floating-point rounding, so results are reproduced only with the same ones)
//   device     the run's device and precision
//   inputs     the initial weights, the label CSV, the list files and BBox_List_2017.csv, and the
//              pack's index (hashed alone: the pack holds every image, GBs for the real data set;
//              its index carries a checksum of each image's pixels and each source PNG's size
//              and time, so a changed image changes the index's hash)
//   outputs    every regular file directly in the run folder except manifest.json itself
//              (config, metrics, checkpoints, weights, results, report, thresholds); sub-folders,
//              such as the demo's data/, are inputs or someone else's outputs and are not listed
// Paths of outputs are relative to the run folder, so a copied or moved run still verifies;
// inputs keep the path the run used.
//
// verify_run() reports, one line each: a file whose bytes changed, a listed file that is gone, and
// a file in the run folder the manifest does not list. ok() only when there is none.
#pragma once

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agcnn/core/build.hpp"
#include "agcnn/core/threads.hpp"
#include "agcnn/data/pack.hpp"
#include "agcnn/io/atomic_file.hpp"
#include "agcnn/io/sha256.hpp"
#include "agcnn/ops/cpu/gemm.hpp"
#include "agcnn/train/config.hpp"

namespace agcnn::app {

inline constexpr const char* kManifestFile = "manifest.json";

// What the program was built as; the command line fills it from its build definitions.
struct BuildInfo {
    std::string version = "unknown", commit = "unknown", flags = "unknown";
};

// "20261202T070512Z": now, in UTC, for file names and records.
inline std::string utc_stamp() {
    const std::time_t now = std::time(nullptr);
    std::tm utc{};
    gmtime_r(&now, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &utc);
    return text;
}

// sha256 of a regular file of any size, read 1 MiB at a time.
inline std::string sha256_file(const std::string& path) {
    io::RegularFile file(path);
    io::Sha256 hash;
    for (std::string block; !(block = file.read(1 << 20)).empty();) hash.update(block);
    return hash.hex();
}

// sha256 of a pack's index JSON (data/pack.hpp's layout: ... index | u64 length | u64 checksum |
// "AGCNNEND").
inline std::string pack_index_sha256(const std::string& path) {
    io::RegularFile file(path);
    AGCNN_CHECK(file.size() >= 32, path, ": too short for a pack");
    std::string trailer(24, '\0');
    AGCNN_CHECK(::pread(file.fd(), trailer.data(), 24, off_t(file.size() - 24)) == 24, path, ": cannot read the trailer");
    AGCNN_CHECK(trailer.compare(16, 8, data::kPackEnd, 8) == 0, path, ": no pack trailer");
    std::uint64_t length = 0;
    std::memcpy(&length, trailer.data(), 8);
    AGCNN_CHECK(length <= file.size() - 32, path, ": index length ", length, " exceeds the file");
    std::string index(length, '\0');
    AGCNN_CHECK(::pread(file.fd(), index.data(), length, off_t(file.size() - 24 - length)) == ssize_t(length), path,
                ": cannot read the index");
    return io::sha256_hex(index);
}

// The CPU's matrix-product kernels (ops/cpu/gemm.hpp chooses them at run time).
inline std::string cpu_kernel_set() {
    const auto& family = cpu::gemm_detail::best_family();
    if (family.front().nr == 0) return "portable C++ (no AVX2 kernels)";
    std::string text = family.front().isa;
    for (const auto& k : family)
        text += std::string(&k == &family.front() ? " " : ", ") + std::to_string(k.mr) + "x" + std::to_string(k.nr);
    return text + " tiles";
}

inline std::string compiler_text() {
#if defined(__clang__)
    return std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
    return std::string("GCC ") + __VERSION__;
#else
    return "unknown";
#endif
}

struct ManifestInput {
    std::string role, path;
    bool pack_index = false;
};

// The files a run reads, as far as its config names them (those that exist).
inline std::vector<ManifestInput> run_inputs(const train::TrainConfig& c) {
    namespace fs = std::filesystem;
    std::vector<ManifestInput> in;
    auto add = [&](const std::string& role, const std::string& path, bool pack = false) {
        if (!path.empty() && fs::is_regular_file(path)) in.push_back({role, path, pack});
    };
    add("initial weights", c.weights);
    if (c.split == "lists") {
        add("train list", c.train_list), add("validation list", c.val_list), add("test list", c.test_list);
    } else {
        const fs::path root(c.data_dir);
        const bool v2020 = fs::exists(root / "Data_Entry_2017_v2020.csv");
        add("label CSV", (root / (v2020 ? "Data_Entry_2017_v2020.csv" : "Data_Entry_2017.csv")).string());
        add("train_val list", (root / "train_val_list.txt").string());
        add("test list", (root / "test_list.txt").string());
        add("bounding boxes", (root / "BBox_List_2017.csv").string());
    }
    if (c.pack_side > 0) add("pack index", data::default_pack_path(c.data_dir, c.pack_side), true);
    return in;
}

// Every regular file directly in run_dir but the manifest and temporary files, sorted.
inline std::vector<std::string> run_outputs(const std::string& run_dir) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(run_dir)) {
        const std::string name = e.path().filename().string();
        if (e.is_regular_file() && name != kManifestFile && name.find(".tmp-") == std::string::npos)
            names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

inline nlohmann::ordered_json make_manifest(const std::string& run_dir, const train::TrainConfig& config,
                                            const BuildInfo& build, const std::string& written_by,
                                            const std::string& time_utc) {
    nlohmann::ordered_json inputs = nlohmann::ordered_json::array(), outputs = nlohmann::ordered_json::array();
    for (const ManifestInput& i : run_inputs(config))
        inputs.push_back({{"role", i.role},
                          {"path", i.path},
                          {"hashed", i.pack_index ? "index" : "file"},
                          {"sha256", i.pack_index ? pack_index_sha256(i.path) : sha256_file(i.path)}});
    for (const std::string& name : run_outputs(run_dir))
        outputs.push_back({{"path", name}, {"sha256", sha256_file(run_dir + "/" + name)}});
    return {{"format", "agcnn-manifest-1"},
            {"written_by", written_by},
            {"time_utc", time_utc},
            {"software", {{"version", build.version}, {"commit", build.commit}}},
            {"build", {{"compiler", compiler_text()}, {"flags", build.flags}, {"cuda_backend", kCudaBuilt}}},
            {"cpu", {{"kernel_set", cpu_kernel_set()}, {"threads", num_threads()}, {"cores", core_count()}}},
            {"device", {{"device", config.device}, {"precision", config.precision}}},
            {"inputs", inputs},
            {"outputs", outputs}};
}

inline void write_manifest(const std::string& run_dir, const train::TrainConfig& config, const BuildInfo& build,
                           const std::string& written_by, const std::string& time_utc) {
    io::write_file_atomic(run_dir + "/" + kManifestFile,
                          make_manifest(run_dir, config, build, written_by, time_utc).dump(2) + "\n");
}

struct VerifyReport {
    std::size_t checked = 0;
    std::vector<std::string> problems;  // "changed: PATH", "missing: PATH", "not in the manifest: PATH"
    bool ok() const { return problems.empty(); }
};

namespace detail {

// j[key] when it is a string, else `fallback` (a hostile manifest may hold anything).
inline std::string text_field(const nlohmann::json& j, const char* key, const std::string& fallback = "") {
    return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : fallback;
}

}  // namespace detail

inline VerifyReport verify_run(const std::string& run_dir) {
    using detail::text_field;
    const std::string path = run_dir + "/" + kManifestFile;
    const auto manifest = nlohmann::json::parse(io::read_file(path), nullptr, false);
    AGCNN_CHECK(!manifest.is_discarded() && text_field(manifest, "format") == "agcnn-manifest-1" &&
                    manifest.contains("inputs") && manifest["inputs"].is_array() && manifest.contains("outputs") &&
                    manifest["outputs"].is_array(),
                path, ": not an agcnn manifest (agcnn-manifest-1 with inputs and outputs)");
    VerifyReport report;
    auto check = [&](const nlohmann::json& entry, const std::string& shown, const std::string& file, bool index) {
        const std::string recorded = text_field(entry, "sha256");
        AGCNN_CHECK(recorded.size() == 64, path, ": an entry without a sha256: ", entry.dump());
        ++report.checked;
        if (!std::filesystem::is_regular_file(file)) return report.problems.push_back("missing: " + shown);
        std::string now;
        try {
            now = index ? pack_index_sha256(file) : sha256_file(file);
        } catch (const Error& e) {
            return report.problems.push_back("changed: " + shown + " (" + e.what() + ")");
        }
        if (now != recorded) report.problems.push_back("changed: " + shown);
    };
    for (const auto& entry : manifest["inputs"]) {
        const std::string file = text_field(entry, "path");
        AGCNN_CHECK(!file.empty(), path, ": an input without a path: ", entry.dump());
        check(entry, text_field(entry, "role", "input") + " " + file, file, text_field(entry, "hashed") == "index");
    }
    std::vector<std::string> listed;
    for (const auto& entry : manifest["outputs"]) {
        const std::string name = text_field(entry, "path");
        AGCNN_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "." && name != "..", path,
                    ": output path '", name, "' is not a file name in the run folder");
        listed.push_back(name);
        check(entry, name, run_dir + "/" + name, false);
    }
    for (const std::string& name : run_outputs(run_dir))
        if (std::find(listed.begin(), listed.end(), name) == listed.end())
            report.problems.push_back("not in the manifest: " + name);
    return report;
}

}  // namespace agcnn::app
