// agcnn/train/run_paths.hpp — the input paths of a run (data folder, list files, ImageNet
// weights), stored as given and found again after the run folder moves.
//
// RUN/config.json keeps each path in "config" exactly as the user gave it, and beside it
// "paths_from_run" holds the same path relative to the run folder. A path is found as:
//   1. given, when absolute and present;
//   2. relative to the run folder (paths_from_run), when present: a run folder moved together
//      with its data (or to another machine with the same layout) finds it there;
//   3. given, relative to the current folder, when present.
// Data paths that none of these find stop the command with each path tried.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "agcnn/io/atomic_file.hpp"
#include "agcnn/train/config.hpp"

namespace agcnn::train {

// Each non-empty path of `config` relative to the run folder (for "paths_from_run").
inline nlohmann::json paths_from_run(const TrainConfig& config, const std::string& run_dir) {
    namespace fs = std::filesystem;
    const fs::path run = fs::absolute(run_dir).lexically_normal();
    nlohmann::json j = nlohmann::json::object();
    for (const PathField& f : kPathFields)
        if (const std::string& value = config.*f.member; !value.empty())
            j[f.name] = fs::absolute(value).lexically_normal().lexically_relative(run).string();
    return j;
}

// Where `field`'s path (as given: `value`) is now, or nullopt; `tried` gets each candidate.
// `from_run` is config.json's "paths_from_run" (its entry is used only when config.json stores
// the same given path).
inline std::optional<std::string> find_run_path(const std::string& value, const char* field,
                                                const nlohmann::json& stored, const std::string& run_dir,
                                                std::vector<std::string>* tried = nullptr) {
    namespace fs = std::filesystem;
    std::vector<std::string> candidates;
    if (fs::path(value).is_absolute()) candidates.push_back(value);
    const nlohmann::json& config = stored.contains("config") ? stored["config"] : stored;
    if (stored.contains("paths_from_run") && stored["paths_from_run"].is_object() &&
        stored["paths_from_run"].contains(field) && stored["paths_from_run"][field].is_string() &&
        config.is_object() && config.contains(field) && config[field] == value)
        candidates.push_back((fs::path(run_dir) / stored["paths_from_run"][field].get<std::string>())
                                 .lexically_normal()
                                 .string());
    if (!fs::path(value).is_absolute()) candidates.push_back(value);
    std::error_code error;
    for (const std::string& candidate : candidates)
        if (fs::exists(candidate, error)) return candidate;
    if (tried) *tried = candidates;
    return std::nullopt;
}

// RUN/config.json as stored, or an empty object when there is none (or it cannot be read: the
// caller that needs it reports that).
inline nlohmann::json stored_run_config(const std::string& run_dir) {
    const std::string path = run_dir + "/config.json";
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) return nlohmann::json::object();
    try {
        auto j = nlohmann::json::parse(io::read_file(path), nullptr, false);
        return j.is_object() ? j : nlohmann::json::object();
    } catch (const Error&) {
        return nlohmann::json::object();
    }
}

// "a, b, c".
inline std::string comma_list(const std::vector<std::string>& tried) {
    std::string out;
    for (const std::string& t : tried) out += (out.empty() ? "" : ", ") + t;
    return out;
}

// `config` with its data paths (data folder and lists) where they are now. In a run folder with
// a config.json, throws naming each one not found and the places tried (without one, the data's
// reader reports a missing path). The weights path is left as given (the stage that needs it
// calls find_weights_path).
inline TrainConfig resolve_data_paths(const TrainConfig& config, const std::string& run_dir) {
    const nlohmann::json stored = stored_run_config(run_dir);
    if (stored.empty()) return config;
    TrainConfig resolved = config;
    std::string missing;
    for (const PathField& f : kPathFields) {
        std::string& value = resolved.*f.member;
        if (value.empty() || std::string(f.name) == "weights") continue;
        std::vector<std::string> tried;
        if (const auto found = find_run_path(value, f.name, stored, run_dir, &tried))
            value = *found;
        else
            missing += std::string(missing.empty() ? "" : "; ") + f.name + " '" + value + "' (tried " +
                       comma_list(tried) + ")";
    }
    AGCNN_CHECK(missing.empty(), run_dir, ": the run's data cannot be found: ", missing,
                ". Move the data back, or give the run folder's config.json the data's new place");
    return resolved;
}

// Where the run's ImageNet weights (config.weights) are now; throws naming the places tried.
inline std::string find_weights_path(const TrainConfig& config, const std::string& run_dir) {
    std::vector<std::string> tried;
    const auto found = find_run_path(config.weights, "weights", stored_run_config(run_dir), run_dir, &tried);
    AGCNN_CHECK(found.has_value(), run_dir, ": the run's ImageNet weights '", config.weights,
                "' cannot be found (tried ", comma_list(tried), ")");
    return *found;
}

// "paths_from_run" for config.json: each path where it is now (as given when nothing finds it),
// relative to the run folder.
inline nlohmann::json current_paths_from_run(const TrainConfig& config, const std::string& run_dir) {
    const nlohmann::json stored = stored_run_config(run_dir);
    TrainConfig found = config;
    for (const PathField& f : kPathFields)
        if (std::string& value = found.*f.member; !value.empty())
            value = find_run_path(value, f.name, stored, run_dir).value_or(value);
    return paths_from_run(found, run_dir);
}

}  // namespace agcnn::train
