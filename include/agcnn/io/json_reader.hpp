// agcnn/io/json_reader.hpp — a strict JSON reader (RFC 8259) for the one JSON document the
// inference path reads: a safetensors header (io/safetensors.hpp). Written here so the engine and
// the C API need no JSON library (the inference-only build); the CLI and training keep
// nlohmann/json for config.json and results.json.
//
// parse_json(text) returns a JsonValue tree or throws JsonError with the byte offset of the
// problem. Objects keep their members in document order (duplicate keys are refused); numbers
// keep their text and, when they are integers that fit, their value. Nesting deeper than
// kMaxJsonDepth is refused, so a hostile header cannot exhaust the stack.
#pragma once

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace agcnn::io {

struct JsonError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr int kMaxJsonDepth = 64;

struct JsonValue {
    enum class Kind { null, boolean, number, string, array, object };
    Kind kind = Kind::null;
    bool boolean = false;
    std::string text;                  // string: its value; number: its text
    bool is_unsigned = false;          // number: a non-negative integer that fits in 64 bits
    std::uint64_t unsigned_value = 0;  // when is_unsigned
    std::vector<JsonValue> items;      // array
    std::vector<std::pair<std::string, JsonValue>> members;  // object, in document order

    bool is_object() const { return kind == Kind::object; }
    bool is_array() const { return kind == Kind::array; }
    bool is_string() const { return kind == Kind::string; }
    // The member named `key`, or nullptr.
    const JsonValue* find(std::string_view key) const {
        for (const auto& [name, value] : members)
            if (name == key) return &value;
        return nullptr;
    }
};

namespace json_detail {

class Parser {
public:
    explicit Parser(std::string_view text) : s_(text) {}

    JsonValue document() {
        JsonValue v = value(0);
        skip_space();
        if (pos_ != s_.size()) fail("text after the JSON value");
        return v;
    }

private:
    [[noreturn]] void fail(const std::string& what) const {
        throw JsonError(what + " at byte " + std::to_string(pos_));
    }
    void skip_space() {
        while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
            ++pos_;
    }
    bool take(char c) {
        skip_space();
        if (pos_ < s_.size() && s_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }
    void expect(char c) {
        if (!take(c)) fail(std::string("expected '") + c + "'");
    }
    void literal(std::string_view word) {
        if (s_.substr(pos_, word.size()) != word) fail("invalid value");
        pos_ += word.size();
    }

    JsonValue value(int depth) {
        if (depth > kMaxJsonDepth) fail("nesting deeper than " + std::to_string(kMaxJsonDepth));
        skip_space();
        if (pos_ >= s_.size()) fail("unexpected end");
        JsonValue v;
        const char c = s_[pos_];
        if (c == '{') {
            v.kind = JsonValue::Kind::object;
            ++pos_;
            if (take('}')) return v;
            do {
                skip_space();
                if (pos_ >= s_.size() || s_[pos_] != '"') fail("expected a member name");
                std::string key = string();
                if (v.find(key)) fail("duplicate key '" + key + "'");
                expect(':');
                v.members.emplace_back(std::move(key), value(depth + 1));
            } while (take(','));
            expect('}');
        } else if (c == '[') {
            v.kind = JsonValue::Kind::array;
            ++pos_;
            if (take(']')) return v;
            do v.items.push_back(value(depth + 1));
            while (take(','));
            expect(']');
        } else if (c == '"') {
            v.kind = JsonValue::Kind::string;
            v.text = string();
        } else if (c == 't' || c == 'f') {
            v.kind = JsonValue::Kind::boolean;
            v.boolean = c == 't';
            literal(v.boolean ? "true" : "false");
        } else if (c == 'n') {
            literal("null");
        } else {
            number(v);
        }
        return v;
    }

    void number(JsonValue& v) {
        const std::size_t begin = pos_;
        auto digits = [&] {
            const std::size_t start = pos_;
            while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
            if (pos_ == start) fail("invalid number");
        };
        const bool negative = pos_ < s_.size() && s_[pos_] == '-';
        if (negative) ++pos_;
        if (pos_ < s_.size() && s_[pos_] == '0')
            ++pos_;
        else
            digits();
        bool integer = true;
        if (pos_ < s_.size() && s_[pos_] == '.') {
            ++pos_;
            digits();
            integer = false;
        }
        if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
            ++pos_;
            if (pos_ < s_.size() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
            digits();
            integer = false;
        }
        v.kind = JsonValue::Kind::number;
        v.text = std::string(s_.substr(begin, pos_ - begin));
        if (integer && !negative) {
            std::uint64_t n = 0;
            bool fits = true;
            for (char d : v.text) {
                const std::uint64_t digit = std::uint64_t(d - '0');
                if (n > (UINT64_MAX - digit) / 10) fits = false;
                n = n * 10 + digit;
            }
            v.is_unsigned = fits;
            v.unsigned_value = fits ? n : 0;
        }
    }

    unsigned hex4() {
        if (pos_ + 4 > s_.size()) fail("truncated \\u escape");
        unsigned code = 0;
        for (int i = 0; i < 4; ++i) {
            const char h = s_[pos_++];
            code <<= 4;
            if (h >= '0' && h <= '9') code |= unsigned(h - '0');
            else if (h >= 'a' && h <= 'f') code |= unsigned(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') code |= unsigned(h - 'A' + 10);
            else fail("invalid \\u escape");
        }
        return code;
    }

    static void append_utf8(std::string& out, unsigned code) {
        if (code < 0x80) {
            out += char(code);
        } else if (code < 0x800) {
            out += char(0xC0 | (code >> 6));
            out += char(0x80 | (code & 0x3F));
        } else if (code < 0x10000) {
            out += char(0xE0 | (code >> 12));
            out += char(0x80 | ((code >> 6) & 0x3F));
            out += char(0x80 | (code & 0x3F));
        } else {
            out += char(0xF0 | (code >> 18));
            out += char(0x80 | ((code >> 12) & 0x3F));
            out += char(0x80 | ((code >> 6) & 0x3F));
            out += char(0x80 | (code & 0x3F));
        }
    }

    // A string starting at the opening quote; returns its value (UTF-8 kept as is).
    std::string string() {
        ++pos_;
        std::string out;
        while (true) {
            if (pos_ >= s_.size()) fail("unterminated string");
            const char c = s_[pos_++];
            if (c == '"') return out;
            if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
            if (c != '\\') {
                out += c;
                continue;
            }
            if (pos_ >= s_.size()) fail("unterminated string");
            const char e = s_[pos_++];
            switch (e) {
                case '"': out += '"'; break;
                case '\\': out += '\\'; break;
                case '/': out += '/'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'u': {
                    unsigned code = hex4();
                    if (code >= 0xD800 && code < 0xDC00) {  // a surrogate pair
                        if (s_.substr(pos_, 2) != "\\u") fail("unpaired surrogate");
                        pos_ += 2;
                        const unsigned low = hex4();
                        if (low < 0xDC00 || low >= 0xE000) fail("unpaired surrogate");
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                    } else if (code >= 0xDC00 && code < 0xE000) {
                        fail("unpaired surrogate");
                    }
                    append_utf8(out, code);
                    break;
                }
                default: fail("invalid escape");
            }
        }
    }

    std::string_view s_;
    std::size_t pos_ = 0;
};

}  // namespace json_detail

inline JsonValue parse_json(std::string_view text) { return json_detail::Parser(text).document(); }

// `text` as a JSON string literal, quotes included, escaped as nlohmann/json's dump() escapes it
// (the writer's half: safetensors headers).
inline std::string json_quote(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t') {
            out += '\\';
            out += c == '\b' ? 'b' : c == '\f' ? 'f' : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
        } else if (u < 0x20) {
            char escape[8];
            std::snprintf(escape, sizeof escape, "\\u%04x", u);
            out += escape;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

}  // namespace agcnn::io
