// agcnn/data/synth_findings.hpp — the 14 findings of the synthetic chest X-rays. Each disease has
// its own visual signature, loosely after its radiographic sign, so a small CNN can learn them:
//
//   Atelectasis        a thin dense plate-like band, tilted, in a lower zone
//   Cardiomegaly       the heart shadow 35-50% wider (cardiothoracic ratio above 0.5)
//   Effusion           the lung base filled with fluid density, a meniscus rising laterally
//   Infiltration       early: a cluster of tiny faint acinar opacities over a lung zone
//   Mass               a (3-5% of the side) dense round opacity with a sharp edge
//   Nodule             1-3 small (radius 0.4-0.9% of the side) round opacities: 4-9 pixels
//                      across at 512, 1.2-2.6 at the demo's 128 input, where they look like the
//                      normal lung's dense dots — the case for the full-resolution local crop
//   Pneumonia          a large fluffy cloud with dark air bronchograms running through it
//   Pneumothorax       a dark apical/lateral crescent without vessels, bounded by a thin
//                      bright pleural line
//   Consolidation      a homogeneous dense lobe with a sharp, straight upper edge (fissure)
//   Edema              bilateral perihilar haze ("bat wings") with short horizontal Kerley lines
//   Emphysema          hyperlucent (darker) lungs with flattened diaphragms
//   Fibrosis           honeycombing: clustered small cysts (bright 1-pixel wall at 512, darker
//                      lumen, no net density) in a lower zone
//   Pleural_Thickening a thick bright band along the lateral chest wall
//   Hernia             a round air bubble with a bright rim and an air-fluid level behind
//                      the heart
//
// Each painter returns its box in relative coordinates; the data set writer scales it to pixels.
// The small findings' sizes and contrasts are chosen for 512-pixel sources shrunk to a 128 input;
// docs/synthetic-data.md gives the reasoning and what is left of each at each scale.
#pragma once

#include <algorithm>
#include <cmath>

#include "agcnn/model/labels.hpp"
#include "agcnn/data/synth_anatomy.hpp"

namespace agcnn::data::synth {

struct RelBox {
    double x0 = 0, y0 = 0, x1 = 0, y1 = 0;
};

// Findings that change the anatomy itself are applied before the chest is painted.
inline void apply_to_anatomy(int label, Anatomy& a, Rng& rng) {
    if (label == model::label_index("Cardiomegaly")) {
        const double grow = rng.uniform(1.35, 1.5);
        a.heart_rx *= grow;
        a.heart_ry *= 1 + (grow - 1) / 2;
    } else if (label == model::label_index("Emphysema")) {
        a.lung_darkening = rng.uniform(0.1, 0.14);
        a.diaphragm_flattening = 1.0;
        a.lung_ry *= 1.06;
    }
}

namespace detail {

// A random point well inside lung `side`, with its vertical position in [v0, v1] (relative to
// the lung: 0 top, 1 bottom).
inline std::pair<double, double> point_in_lung(const Anatomy& a, int side, double v0, double v1, Rng& rng) {
    double x = a.lung_x(side), y = a.lung_cy;
    for (int attempt = 0; attempt < 100; ++attempt) {
        x = a.lung_x(side) + rng.uniform(-0.8, 0.8) * a.lung_rx;
        y = a.lung_cy - a.lung_ry + 2 * a.lung_ry * rng.uniform(v0, v1);
        if (lung_inside(a, side, x, y) > 0.99) break;
    }
    return {x, y};
}

inline RelBox around(double cx, double cy, double rx, double ry) { return {cx - rx, cy - ry, cx + rx, cy + ry}; }

inline double clip_to_lungs(const Anatomy& a, double x, double y) {
    return std::max(lung_inside(a, 0, x, y), lung_inside(a, 1, x, y));
}

inline RelBox round_opacity(Canvas& c, const Anatomy& a, double radius, double density, Rng& rng) {
    const int side = static_cast<int>(rng.below(2));
    const auto [x, y] = point_in_lung(a, side, 0.15, 0.8, rng);
    c.add(x - radius - 0.01, y - radius - 0.01, x + radius + 0.01, y + radius + 0.01,
          [&](double px, double py) { return density * soft_ellipse(px, py, x, y, radius, radius, c.pixel()); });
    return around(x, y, radius * 1.3, radius * 1.3);
}

}  // namespace detail

inline RelBox paint_finding(int label, Canvas& c, const Anatomy& a, Rng& rng) {
    using detail::around;
    const int side = static_cast<int>(rng.below(2));
    const double lx = a.lung_x(side);
    const std::string_view name = model::kLabelNames[static_cast<std::size_t>(label)];
    if (name == "Atelectasis") {
        const auto [x, y] = detail::point_in_lung(a, side, 0.55, 0.75, rng);
        const double half = rng.uniform(0.05, 0.08), tilt = rng.uniform(-0.03, 0.03);
        paint_line(c, x - half, y - tilt, x + half, y + tilt, rng.uniform(0.012, 0.02), 0.3);
        return around(x, y, half + 0.015, std::abs(tilt) + 0.025);
    }
    if (name == "Cardiomegaly") return around(a.heart_cx, a.heart_cy, a.heart_rx, a.heart_ry);
    if (name == "Effusion") {
        const double level = a.lung_cy + a.lung_ry * rng.uniform(0.35, 0.55);
        const double outward = side == 0 ? -1 : 1;
        c.add(lx - a.lung_rx, level - 0.08, lx + a.lung_rx, a.lung_cy + a.lung_ry, [&](double x, double y) {
            const double lateral = std::clamp((x - lx) * outward / a.lung_rx, -1.0, 1.0);
            const double surface = level - 0.06 * (lateral + 1) * (lateral + 1) / 4;  // meniscus
            return 0.32 * lung_inside(a, side, x, y) * std::clamp((y - surface) / 0.01 + 0.5, 0.0, 1.0);
        });
        return {lx - a.lung_rx, level - 0.06, lx + a.lung_rx, a.lung_cy + a.lung_ry};
    }
    if (name == "Infiltration") {
        // Early: a cluster of tiny faint acinar opacities; shrunk, only a faint haze is left.
        const auto [cx, cy] = detail::point_in_lung(a, side, 0.3, 0.7, rng);
        const double spread = rng.uniform(0.05, 0.08);
        for (int i = 0; i < 80; ++i) {
            const double x = cx + rng.uniform(-spread, spread), y = cy + rng.uniform(-spread, spread);
            const double r = rng.uniform(0.0025, 0.0045), density = rng.uniform(0.15, 0.2);
            c.add(x - r - 0.004, y - r - 0.004, x + r + 0.004, y + r + 0.004, [&](double px, double py) {
                return density * detail::clip_to_lungs(a, px, py) * soft_ellipse(px, py, x, y, r, r, c.pixel());
            });
        }
        return around(cx, cy, spread + 0.01, spread + 0.01);
    }
    if (name == "Mass") return detail::round_opacity(c, a, rng.uniform(0.03, 0.05), 0.3, rng);
    if (name == "Nodule") {
        // Bigger and fainter than the normal dense dots (synth_anatomy.hpp) with about the same
        // integrated density: below the global input's pixel the two look alike.
        RelBox box = detail::round_opacity(c, a, rng.uniform(0.004, 0.009), 0.3, rng);
        const int extra = static_cast<int>(rng.below(3));
        for (int i = 0; i < extra; ++i) detail::round_opacity(c, a, rng.uniform(0.004, 0.009), 0.3, rng);
        return box;  // the box of the first nodule, as NIH boxes mark one lesion
    }
    if (name == "Pneumonia") {
        const auto [cx, cy] = detail::point_in_lung(a, side, 0.4, 0.75, rng);
        const double r = rng.uniform(0.06, 0.09);
        c.add(cx - 2 * r, cy - 2 * r, cx + 2 * r, cy + 2 * r, [&](double x, double y) {
            const double d2 = ((x - cx) * (x - cx) + (y - cy) * (y - cy)) / (r * r);
            const double bumps = 0.75 + 0.25 * std::sin(x * 180) * std::sin(y * 150);
            return 0.28 * bumps * std::exp(-d2) * lung_inside(a, side, x, y);
        });
        for (int i = 0; i < 3; ++i) {
            const double angle = rng.uniform(0, 6.283);
            paint_line(c, cx, cy, cx + 0.8 * r * std::cos(angle), cy + 0.8 * r * std::sin(angle), 0.006, -0.12);
        }
        return around(cx, cy, 1.5 * r, 1.5 * r);
    }
    if (name == "Pneumothorax") {
        // The collapsed lung's edge: an arc inside the lung; lateral of it, air without vessels.
        const double cy = a.lung_cy - a.lung_ry * rng.uniform(0.2, 0.5);
        const double depth = rng.uniform(0.25, 0.4) * a.lung_rx;
        const double outward = side == 0 ? -1 : 1;
        const double wall = lx + outward * a.lung_rx;
        c.add(lx - a.lung_rx, cy - 0.2, lx + a.lung_rx, cy + 0.2, [&](double x, double y) {
            const double v = (y - cy) / 0.18;
            const double edge = wall - outward * depth * std::sqrt(std::max(0.0, 1 - v * v));
            const double beyond = (x - edge) * outward;  // > 0: in the pneumothorax
            const double inside = lung_inside(a, side, x, y);
            const double line = std::abs(beyond) < 0.004 && std::abs(v) < 1 ? 0.25 : 0.0;
            return inside * ((beyond > 0 && std::abs(v) < 1 ? -0.25 : 0.0) + line);
        });
        return {std::min(wall, wall - outward * depth) - 0.01, cy - 0.18, std::max(wall, wall - outward * depth) + 0.01,
                cy + 0.18};
    }
    if (name == "Consolidation") {
        const double top = a.lung_cy + a.lung_ry * rng.uniform(-0.1, 0.3);
        const double bottom = top + a.lung_ry * rng.uniform(0.35, 0.5);
        c.add(lx - a.lung_rx, top - 0.01, lx + a.lung_rx, bottom + 0.03, [&](double x, double y) {
            const double fissure = std::clamp((y - top) / c.pixel() + 0.5, 0.0, 1.0);  // sharp upper edge
            const double fade = std::clamp((bottom - y) / 0.03, 0.0, 1.0);
            return 0.3 * fissure * fade * lung_inside(a, side, x, y);
        });
        return {lx - a.lung_rx, top, lx + a.lung_rx, bottom + 0.02};
    }
    if (name == "Edema") {
        for (int s = 0; s < 2; ++s) {
            const double hx = a.lung_x(s) + (s == 0 ? 0.4 : -0.4) * a.lung_rx;
            c.add(hx - 0.16, a.lung_cy - 0.16, hx + 0.16, a.lung_cy + 0.2, [&](double x, double y) {
                const double d2 = ((x - hx) * (x - hx) / 0.008 + (y - a.lung_cy - 0.02) * (y - a.lung_cy - 0.02) / 0.012);
                return 0.2 * std::exp(-d2) * lung_inside(a, s, x, y);
            });
            const double wall = a.lung_x(s) + (s == 0 ? -1 : 1) * a.lung_rx * 0.85;
            for (int k = 0; k < 6; ++k) {  // Kerley B lines at the lateral bases
                const double y = a.lung_cy + a.lung_ry * (0.3 + 0.07 * k);
                paint_line(c, wall, y, wall + (s == 0 ? 0.035 : -0.035), y, 0.004, 0.18);
            }
        }
        return {a.lung_x(0) - a.lung_rx, a.lung_cy - 0.2, a.lung_x(1) + a.lung_rx, a.lung_cy + a.lung_ry * 0.8};
    }
    if (name == "Emphysema")
        return {a.lung_x(0) - a.lung_rx, a.lung_cy - a.lung_ry, a.lung_x(1) + a.lung_rx, a.lung_cy + a.lung_ry};
    if (name == "Fibrosis") {
        // Honeycombing: clustered small cysts, a bright wall (0.2% of the side: 1 pixel at 512)
        // around a darker lumen, each cyst adding no density on the whole, so once shrunk below
        // its size little is left, not even a haze.
        const auto [cx, cy] = detail::point_in_lung(a, side, 0.5, 0.75, rng);
        const double half = rng.uniform(0.05, 0.08);
        for (int i = 0; i < 50; ++i) {
            const double x = cx + rng.uniform(-half, half), y = cy + rng.uniform(-half, half);
            if (detail::clip_to_lungs(a, x, y) < 0.5) continue;
            const double r = rng.uniform(0.006, 0.009), wall = 0.002, inner = r - wall;
            const double lumen = -0.25 * (r * r - inner * inner) / (inner * inner);
            c.add(x - r, y - r, x + r, y + r, [&](double px, double py) {
                const double d = std::hypot(px - x, py - y);
                return d < inner ? lumen : d < r ? 0.25 : 0.0;
            });
        }
        return around(cx, cy, half + 0.01, half + 0.01);
    }
    if (name == "Pleural_Thickening") {
        const double outward = side == 0 ? -1 : 1;
        const double v0 = rng.uniform(-0.7, 0.0), v1 = v0 + rng.uniform(0.4, 0.7);
        const double width = rng.uniform(0.012, 0.02);
        c.add(lx - a.lung_rx - 0.03, a.lung_cy + v0 * a.lung_ry - 0.02, lx + a.lung_rx + 0.03,
              a.lung_cy + v1 * a.lung_ry + 0.02, [&](double x, double y) {
                  const double v = (y - a.lung_cy) / a.lung_ry;
                  if (v < v0 || v > v1) return 0.0;
                  const double wall = lx + outward * a.lung_rx * std::sqrt(std::max(0.0, 1 - v * v));
                  const double into = (wall - x) * outward;  // inside the lung from its wall
                  return into > -0.005 && into < width ? 0.3 : 0.0;
              });
        const double xa = lx + outward * a.lung_rx, xb = lx + outward * (a.lung_rx * 0.6);
        return {std::min(xa, xb) - 0.01, a.lung_cy + v0 * a.lung_ry, std::max(xa, xb) + 0.01, a.lung_cy + v1 * a.lung_ry};
    }
    // Hernia: a hiatal hernia behind the heart.
    const double cx = 0.5 + rng.uniform(-0.02, 0.02), cy = a.heart_cy + rng.uniform(0.0, 0.03);
    const double r = rng.uniform(0.035, 0.05);
    c.add(cx - r - 0.01, cy - r - 0.01, cx + r + 0.01, cy + r + 0.01, [&](double x, double y) {
        const double disc = soft_ellipse(x, y, cx, cy, r, r, c.pixel());
        const double rim = disc - soft_ellipse(x, y, cx, cy, r - 0.006, r - 0.006, c.pixel());
        const double air = y < cy + 0.3 * r ? -0.35 : 0.0;  // air above the fluid level
        return 0.25 * rim + air * (disc - rim);
    });
    return around(cx, cy, r + 0.01, r + 0.01);
}

}  // namespace agcnn::data::synth
