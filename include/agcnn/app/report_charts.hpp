// agcnn/app/report_charts.hpp — the pieces report pages are made of: HTML escaping, base64 for
// inline PNGs, and line charts as inline SVG (axes from the data, one polyline per series, open
// circles for marked points).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace agcnn::app {

inline std::string base64(const std::string& bytes) {
    static const char* table = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        const unsigned v = (std::uint8_t(bytes[i]) << 16) | (std::uint8_t(bytes[i + 1]) << 8) | std::uint8_t(bytes[i + 2]);
        for (int k = 18; k >= 0; k -= 6) out += table[(v >> k) & 63];
    }
    if (i < bytes.size()) {
        const bool two = i + 1 < bytes.size();
        const unsigned v = (std::uint8_t(bytes[i]) << 16) | (two ? std::uint8_t(bytes[i + 1]) << 8 : 0);
        out += table[(v >> 18) & 63];
        out += table[(v >> 12) & 63];
        out += two ? table[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

inline std::string html_escape(const std::string& text) {
    std::string out;
    for (char c : text) out += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : std::string(1, c);
    return out;
}

namespace detail {

inline const char* kBranchColours[] = {"#1f77b4", "#2ca02c", "#d62728"};

// A line chart: one series per (label, colour, points); axes from the data.
struct Series {
    std::string label, colour;
    std::vector<std::pair<double, double>> points;
    std::vector<std::pair<double, double>> markers = {};  // open circles: operating points
};

inline std::string line_chart(const std::string& title, const std::vector<Series>& series, double y_min,
                              double y_max, const std::string& x_label, int width = 360, int height = 220) {
    double x_max = 1;
    for (const auto& s : series)
        for (auto [x, y] : s.points) x_max = std::max(x_max, x);
    const double left = 44, right = 10, top = 24, bottom = 34;
    auto px = [&](double x) { return left + (width - left - right) * x / x_max; };
    auto py = [&](double y) {
        return top + (height - top - bottom) * (1 - (std::clamp(y, y_min, y_max) - y_min) / (y_max - y_min));
    };
    std::ostringstream svg;
    svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
        << "' class='chart'><text x='" << width / 2 << "' y='15' text-anchor='middle' font-weight='bold'>"
        << html_escape(title) << "</text>";
    svg << "<rect x='" << left << "' y='" << top << "' width='" << width - left - right << "' height='"
        << height - top - bottom << "' fill='none' stroke='#999'/>";
    for (int k = 0; k <= 4; ++k) {
        const double y = y_min + (y_max - y_min) * k / 4;
        char label[32];
        std::snprintf(label, sizeof label, "%.2f", y);
        svg << "<text x='" << left - 4 << "' y='" << py(y) + 4 << "' text-anchor='end' font-size='10'>" << label
            << "</text><line x1='" << left << "' x2='" << width - right << "' y1='" << py(y) << "' y2='" << py(y)
            << "' stroke='#eee'/>";
    }
    svg << "<text x='" << width / 2 << "' y='" << height - 4 << "' text-anchor='middle' font-size='11'>"
        << html_escape(x_label) << " (0 to " << x_max << ")</text>";
    int legend = 0;
    for (const auto& s : series) {
        if (s.points.empty()) continue;
        svg << "<polyline fill='none' stroke-width='2' stroke='" << s.colour << "' points='";
        for (auto [x, y] : s.points) svg << px(x) << "," << py(y) << " ";
        svg << "'/>";
        if (s.points.size() == 1)
            svg << "<circle r='3' fill='" << s.colour << "' cx='" << px(s.points[0].first) << "' cy='"
                << py(s.points[0].second) << "'/>";
        for (auto [x, y] : s.markers)
            svg << "<circle r='5' fill='white' stroke-width='2' stroke='" << s.colour << "' cx='" << px(x) << "' cy='"
                << py(y) << "'/>";
        svg << "<text x='" << left + 6 << "' y='" << top + 14 + 13 * legend++ << "' font-size='11' fill='"
            << s.colour << "'>" << html_escape(s.label) << "</text>";
    }
    svg << "</svg>";
    return svg.str();
}

template <class Json>
inline std::string number(const Json& v) {
    if (!v.is_number()) return "&ndash;";
    char text[16];
    std::snprintf(text, sizeof text, "%.3f", v.template get<double>());
    return text;
}

}  // namespace detail

}  // namespace agcnn::app
