// agcnn/data/text_lines.hpp — the text side of the ChestX-ray14 files: lines with their numbers,
// CSV fields, and the "where" of an error ("file:line: ...").
//
// CSV follows RFC 4180 as far as the release uses it: comma-separated fields, optional double
// quotes around a field ("" inside quotes is one quote), CRLF or LF line ends, a UTF-8 BOM allowed
// at the start. Blank lines are skipped. Embedded newlines inside quotes are not supported (the
// release has none) and are reported as an unterminated quote.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "agcnn/core/error.hpp"
#include "agcnn/io/atomic_file.hpp"

namespace agcnn::data {

// The largest list or CSV file read (NIH's Data_Entry_2017.csv is 7.8 MiB).
constexpr std::uint64_t kMaxTextFileBytes = 256ull << 20;

struct TextLine {
    int number = 0;  // 1-based line number in the file
    std::string text;
};

// The non-blank lines of a file, without line ends (and without a leading BOM).
inline std::vector<TextLine> read_text_lines(const std::string& path) {
    const std::string content = io::read_file(path, kMaxTextFileBytes);
    AGCNN_CHECK(content.find('\0') == std::string::npos, path,
                ": contains NUL bytes; expected a text file");
    std::vector<TextLine> lines;
    std::size_t start = content.rfind("\xEF\xBB\xBF", 0) == 0 ? 3 : 0;
    for (int number = 1; start < content.size(); ++number) {
        std::size_t end = content.find('\n', start);
        if (end == std::string::npos) end = content.size();
        std::string text = content.substr(start, end - start);
        if (!text.empty() && text.back() == '\r') text.pop_back();
        if (text.find_first_not_of(" \t") != std::string::npos) lines.push_back({number, text});
        start = end + 1;
    }
    return lines;
}

inline std::string trim(std::string_view text) {
    const auto begin = text.find_first_not_of(" \t");
    if (begin == std::string_view::npos) return {};
    const auto end = text.find_last_not_of(" \t");
    return std::string(text.substr(begin, end - begin + 1));
}

inline std::string where(const std::string& path, int line) {
    return path + ":" + std::to_string(line);
}

// The fields of one CSV line, trimmed; the error names file and line.
inline std::vector<std::string> split_csv(const TextLine& line, const std::string& path) {
    std::vector<std::string> fields;
    std::string field;
    bool quoted = false, was_quoted = false;
    const std::string& s = line.text;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (quoted) {
            if (c == '"' && i + 1 < s.size() && s[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
        } else if (c == '"' && trim(field).empty()) {
            quoted = was_quoted = true;
            field.clear();
        } else if (c == ',') {
            fields.push_back(was_quoted ? field : trim(field));
            field.clear();
            was_quoted = false;
        } else {
            field += c;
        }
    }
    AGCNN_CHECK(!quoted, where(path, line.number), ": unterminated quoted field");
    fields.push_back(was_quoted ? field : trim(field));
    return fields;
}

}  // namespace agcnn::data
