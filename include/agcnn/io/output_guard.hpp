// agcnn/io/output_guard.hpp — no command overwrites one of its inputs or a file it did not write.
//
// Each command checks its output paths before it computes anything:
//   refuse_input_as_output   the output is one of the command's inputs (the same file, through
//                            any path or link);
//   refuse_foreign_output    something already at the output path does not begin with the
//                            bytes the command's own files begin with (a label CSV or a PNG
//                            where a pack would go);
//   refuse_foreign_folder    an output folder already holds files but not the command's own
//                            marker file (a data set where a run folder would go); with no
//                            marker, any file there is refused (new or empty folders only).
// Every refusal is one line naming the flag, the path and what is there.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "agcnn/io/atomic_file.hpp"

namespace agcnn::io {

// True when `a` and `b` name the same file: the same inode when both exist, else the same
// normalised absolute path.
inline bool same_file(const std::string& a, const std::string& b) {
    namespace fs = std::filesystem;
    std::error_code error;
    if (fs::exists(a, error) && fs::exists(b, error)) return fs::equivalent(a, b, error);
    return fs::weakly_canonical(a, error) == fs::weakly_canonical(b, error);
}

inline void refuse_input_as_output(const std::string& output, const std::string& flag,
                                   const std::vector<std::string>& inputs) {
    for (const std::string& input : inputs)
        AGCNN_CHECK(input.empty() || !same_file(output, input), flag, " ", output, ": is the input ", input,
                    "; refusing to overwrite it (choose another output path)");
}

inline void refuse_foreign_output(const std::string& output, const std::string& flag, std::string_view magic,
                                  const std::string& kind) {
    std::error_code error;
    if (!std::filesystem::exists(output, error)) return;
    RegularFile file(output);  // a folder, FIFO or device there: "not a regular file (...)"
    const std::string head = file.read(magic.size());
    AGCNN_CHECK(head == magic, flag, " ", output, ": exists and is not ", kind,
                "; refusing to overwrite it (choose another path, or remove the file yourself)");
}

// `folder` is new, empty, holds `marker` (the command's own folder; "" = none is), or holds only
// files named in `ignored` (what a failed start may leave, e.g. a lock file) and temporaries.
inline void refuse_foreign_folder(const std::string& folder, const std::string& flag, const std::string& marker,
                                  const std::string& what, const std::vector<std::string>& ignored = {}) {
    namespace fs = std::filesystem;
    std::error_code error;
    if (!fs::exists(folder, error)) return;
    AGCNN_CHECK(fs::is_directory(folder, error), flag, " ", folder, ": exists and is not a folder");
    if (!marker.empty() && fs::exists(fs::path(folder) / marker, error)) return;
    for (const auto& entry : fs::directory_iterator(folder, error)) {
        const std::string name = entry.path().filename().string();
        bool ignore = name.find(".tmp-") != std::string::npos;
        for (const std::string& i : ignored) ignore = ignore || name == i;
        AGCNN_CHECK(ignore, flag, " ", folder, ": holds files (", name, ", ...)",
                    marker.empty() ? "" : " but no " + marker + ", so it is not " + what,
                    "; refusing to write into it (choose a new or empty folder)");
    }
}

}  // namespace agcnn::io
