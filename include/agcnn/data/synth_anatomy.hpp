// agcnn/data/synth_anatomy.hpp — a normal frontal (PA) chest radiograph, drawn from a few
// per-patient numbers. Density is painted on a float canvas (0 air .. 1 bone) in coordinates
// relative to the image side, so one patient looks the same at 256 and at 1024 pixels:
//
//   body: soft-tissue torso ellipse with neck and shoulders, air outside;
//   lungs: two rounded fields, dark, with a domed diaphragm below each;
//   mediastinum and spine: a bright central band; heart: a bright ellipse low and to the
//     patient's left (image right), overlapping the left lung;
//   ribs: posterior arcs across each lung, clavicles on top;
//   vessels: faint lines branching out of each hilum;
//   normal lung detail: smooth density patches and tiny dense dots (granulomas, vessels end-on),
//     what small findings must be told from once shrunk (paint_normal_lung_detail);
//   noise: grain plus a smooth exposure gradient, then a film-like tone curve.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "agcnn/core/rng.hpp"
#include "agcnn/data/batch.hpp"

namespace agcnn::data::synth {

// Per-patient shape; follow-ups are the same patient slightly moved (jitter()).
struct Anatomy {
    double lung_cx = 0.19, lung_cy = 0.46, lung_rx = 0.155, lung_ry = 0.29;  // offset of each lung from 0.5
    double heart_cx = 0.55, heart_cy = 0.66, heart_rx = 0.125, heart_ry = 0.105;
    double body_rx = 0.46, tissue = 0.42, lung_air = 0.30, rib_spacing = 0.062, rib_start = 0.17;
    double exposure = 1.0;
    double lung_darkening = 0.0;     // emphysema: hyperlucent lungs
    double diaphragm_flattening = 0.0;

    static Anatomy random(Rng& rng) {
        Anatomy a;
        a.lung_cx = rng.uniform(0.175, 0.205);
        a.lung_cy = rng.uniform(0.44, 0.48);
        a.lung_rx = rng.uniform(0.14, 0.165);
        a.lung_ry = rng.uniform(0.27, 0.31);
        a.heart_cx = rng.uniform(0.53, 0.57);
        a.heart_cy = a.lung_cy + a.lung_ry * rng.uniform(0.62, 0.72);
        a.heart_rx = rng.uniform(0.11, 0.13);
        a.heart_ry = rng.uniform(0.09, 0.11);
        a.body_rx = rng.uniform(0.43, 0.48);
        a.tissue = rng.uniform(0.38, 0.46);
        a.lung_air = rng.uniform(0.22, 0.27);
        a.rib_spacing = rng.uniform(0.058, 0.066);
        a.rib_start = rng.uniform(0.15, 0.18);
        a.exposure = rng.uniform(0.9, 1.1);
        return a;
    }
    // The same patient on another day: position and exposure change a little.
    Anatomy jitter(Rng& rng) const {
        Anatomy a = *this;
        const double dx = rng.uniform(-0.015, 0.015), dy = rng.uniform(-0.015, 0.015);
        a.lung_cy += dy;
        a.heart_cx += dx;
        a.heart_cy += dy;
        a.exposure *= rng.uniform(0.95, 1.05);
        return a;
    }
    // Centre x of lung `side` (0: image left = patient's right, 1: image right).
    double lung_x(int side) const { return side == 0 ? 0.5 - lung_cx : 0.5 + lung_cx; }
};

// A square float canvas painted in relative coordinates.
class Canvas {
public:
    explicit Canvas(int size) : size_(size), v_(static_cast<std::size_t>(size) * size, 0.0f) {}
    int size() const { return size_; }
    float& at(int x, int y) { return v_[static_cast<std::size_t>(y) * size_ + x]; }
    double pixel() const { return 1.0 / size_; }

    // Adds f(x, y) (relative coordinates of the pixel centre) over the box [x0,x1] x [y0,y1].
    template <class F>
    void add(double x0, double y0, double x1, double y1, F f) {
        const int px0 = std::max(0, static_cast<int>(std::floor(x0 * size_)));
        const int px1 = std::min(size_ - 1, static_cast<int>(std::ceil(x1 * size_)));
        const int py0 = std::max(0, static_cast<int>(std::floor(y0 * size_)));
        const int py1 = std::min(size_ - 1, static_cast<int>(std::ceil(y1 * size_)));
        for (int py = py0; py <= py1; ++py)
            for (int px = px0; px <= px1; ++px)
                at(px, py) += static_cast<float>(f((px + 0.5) / size_, (py + 0.5) / size_));
    }

    // The canvas through a tone curve, with grain, as 8-bit gray.
    GrayImage finish(double exposure, Rng& rng) const {
        GrayImage image;
        image.width = image.height = size_;
        image.pixels.resize(v_.size());
        const double tilt = rng.uniform(-0.04, 0.04);
        for (int y = 0; y < size_; ++y)
            for (int x = 0; x < size_; ++x) {
                const double d = v_[static_cast<std::size_t>(y) * size_ + x] * exposure + tilt * (x - size_ / 2.0) / size_;
                const double tone = 1.0 / (1.0 + std::exp(-4.5 * (d - 0.42)));  // film characteristic curve
                const double value = 255.0 * tone + rng.normal(0.0, 3.0);
                image.pixels[static_cast<std::size_t>(y) * size_ + x] =
                    static_cast<std::uint8_t>(std::clamp(value + 0.5, 0.0, 255.0));
            }
        return image;
    }

private:
    int size_;
    std::vector<float> v_;
};

// 1 inside, 0 outside, a soft edge `soft` wide (relative units) around the ellipse.
inline double soft_ellipse(double x, double y, double cx, double cy, double rx, double ry, double soft) {
    const double d = std::sqrt((x - cx) * (x - cx) / (rx * rx) + (y - cy) * (y - cy) / (ry * ry));
    const double t = std::clamp((1.0 - d) * std::min(rx, ry) / soft + 0.5, 0.0, 1.0);
    return t * t * (3 - 2 * t);
}

// Distance from (x, y) to the segment (ax, ay)-(bx, by).
inline double segment_distance(double x, double y, double ax, double ay, double bx, double by) {
    const double dx = bx - ax, dy = by - ay;
    const double t = std::clamp(((x - ax) * dx + (y - ay) * dy) / std::max(1e-12, dx * dx + dy * dy), 0.0, 1.0);
    return std::hypot(x - ax - t * dx, y - ay - t * dy);
}

// A tube of `density` along the polyline `points` (x0, y0, x1, y1, ...), `width` wide, with the
// rounded profile of a cylinder seen side-on; drawn once per pixel (the profile of the nearest
// segment), so joints do not double up. Each segment visits only its own bounding box: at 512
// pixels and more a rib's polyline box is tens of thousands of pixels.
inline void paint_curve(Canvas& c, const std::vector<double>& points, double width, double density) {
    const double half = std::max(width, 2 * c.pixel()) / 2;
    const int n = c.size();
    auto first = [&](double v) { return std::max(0, static_cast<int>(std::floor(v * n))); };
    auto last = [&](double v) { return std::min(n - 1, static_cast<int>(std::ceil(v * n))); };
    double x0 = 1, y0 = 1, x1 = 0, y1 = 0;
    for (std::size_t i = 0; i < points.size(); i += 2) {
        x0 = std::min(x0, points[i]), x1 = std::max(x1, points[i]);
        y0 = std::min(y0, points[i + 1]), y1 = std::max(y1, points[i + 1]);
    }
    const int px0 = first(x0 - half), px1 = last(x1 + half), py0 = first(y0 - half), py1 = last(y1 + half);
    if (px1 < px0 || py1 < py0) return;
    const int w = px1 - px0 + 1;
    std::vector<double> nearest(static_cast<std::size_t>(w) * (py1 - py0 + 1), half);  // distance, capped
    for (std::size_t i = 2; i < points.size(); i += 2) {
        const double ax = points[i - 2], ay = points[i - 1], bx = points[i], by = points[i + 1];
        for (int py = std::max(py0, first(std::min(ay, by) - half)); py <= std::min(py1, last(std::max(ay, by) + half)); ++py)
            for (int px = std::max(px0, first(std::min(ax, bx) - half)); px <= std::min(px1, last(std::max(ax, bx) + half)); ++px) {
                double& d = nearest[static_cast<std::size_t>(py - py0) * w + (px - px0)];
                d = std::min(d, segment_distance((px + 0.5) / n, (py + 0.5) / n, ax, ay, bx, by));
            }
    }
    for (int py = py0; py <= py1; ++py)
        for (int px = px0; px <= px1; ++px) {
            const double r = nearest[static_cast<std::size_t>(py - py0) * w + (px - px0)] / half;
            if (r < 1) c.at(px, py) += static_cast<float>(density * std::sqrt(1 - r * r));
        }
}

inline void paint_line(Canvas& c, double ax, double ay, double bx, double by, double width, double density) {
    paint_curve(c, {ax, ay, bx, by}, width, density);
}

// How much (x, y) is inside lung `side` (0..1), the diaphragm dome cutting the base.
inline double lung_inside(const Anatomy& a, int side, double x, double y) {
    const double cx = a.lung_x(side);
    const double inside = soft_ellipse(x, y, cx, a.lung_cy, a.lung_rx, a.lung_ry, 0.02);
    // The dome: the base rises towards the middle of each hemithorax.
    const double dome_top = a.lung_cy + a.lung_ry * (0.78 + 0.2 * a.diaphragm_flattening);
    const double u = (x - cx) / a.lung_rx;
    const double base = dome_top + 0.06 * (1 - a.diaphragm_flattening) * u * u;
    return inside * std::clamp((base - y) / 0.008 + 0.5, 0.0, 1.0);
}

// What a normal lung has that the small findings must be told from (docs/synthetic-data.md):
//  - smooth patches of slightly higher or lower density (radius 4-9% of the side, +-0.04): so a
//    faint haze alone, which is all that is left of early infiltrates or fibrosis texture once
//    shrunk, does not mark a finding;
//  - 2-6 tiny dense dots per lung (calcified granulomas and vessels seen end-on: radius 0.22-0.35%
//    of the side, density 0.5-0.9): once shrunk below a pixel, a round opacity is only its
//    integrated density, and these match the nodules' (bigger, fainter); at the source's
//    resolution size and contrast tell them apart.
inline void paint_normal_lung_detail(Canvas& c, const Anatomy& a, Rng& rng) {
    for (int side = 0; side < 2; ++side) {
        const double lx = a.lung_x(side);
        const int patches = 3 + static_cast<int>(rng.below(3));
        for (int i = 0; i < patches; ++i) {
            const double x = lx + rng.uniform(-0.7, 0.7) * a.lung_rx, y = a.lung_cy + rng.uniform(-0.7, 0.7) * a.lung_ry;
            const double r = rng.uniform(0.04, 0.09), amplitude = rng.uniform(-0.04, 0.04);
            c.add(x - 2 * r, y - 2 * r, x + 2 * r, y + 2 * r, [&](double px, double py) {
                const double d2 = ((px - x) * (px - x) + (py - y) * (py - y)) / (r * r);
                return amplitude * std::exp(-d2) * lung_inside(a, side, px, py);
            });
        }
        const int dots = 2 + static_cast<int>(rng.below(5));
        for (int i = 0; i < dots; ++i) {
            const double x = lx + rng.uniform(-0.75, 0.75) * a.lung_rx, y = a.lung_cy + rng.uniform(-0.75, 0.75) * a.lung_ry;
            if (lung_inside(a, side, x, y) < 0.99) continue;
            const double r = rng.uniform(0.0022, 0.0035), density = rng.uniform(0.5, 0.9);
            c.add(x - r - 0.005, y - r - 0.005, x + r + 0.005, y + r + 0.005,
                  [&](double px, double py) { return density * soft_ellipse(px, py, x, y, r, r, c.pixel()); });
        }
    }
}

inline void paint_normal_chest(Canvas& c, const Anatomy& a, Rng& rng) {
    // Body and neck (soft tissue), shoulders.
    c.add(0, 0, 1, 1, [&](double x, double y) {
        const double torso = soft_ellipse(x, y, 0.5, 0.62, a.body_rx, 0.56, 0.03);
        const double neck = soft_ellipse(x, y, 0.5, 0.02, 0.11, 0.2, 0.02);
        const double shoulders = soft_ellipse(x, y, 0.5, 0.2, 0.5, 0.1, 0.04);
        // Below the diaphragm the abdomen is denser than the chest wall.
        const double abdomen = std::clamp((y - (a.lung_cy + a.lung_ry * 0.8)) / 0.05, 0.0, 1.0) * 0.1;
        return (a.tissue + abdomen) * std::max({torso, neck, shoulders});
    });
    // Lungs.
    for (int side = 0; side < 2; ++side) {
        const double cx = a.lung_x(side);
        c.add(cx - a.lung_rx - 0.02, a.lung_cy - a.lung_ry - 0.02, cx + a.lung_rx + 0.02,
              a.lung_cy + a.lung_ry + 0.02, [&](double x, double y) {
                  // Denser towards the base and the hilum, as in a real film.
                  const double grade = 0.06 * (y - a.lung_cy) / a.lung_ry +
                                       0.02 * std::sin(x * 90 + std::sin(y * 70)) * std::sin(y * 80);
                  return -(a.lung_air + a.lung_darkening - grade) * lung_inside(a, side, x, y);
              });
    }
    // Mediastinum, spine, heart.
    c.add(0.4, 0.05, 0.6, 0.95, [&](double x, double y) {
        const double band = soft_ellipse(x, y, 0.5, 0.5, 0.06, 0.45, 0.03);
        const double vertebra = 0.05 * (0.5 + 0.5 * std::cos(2 * 3.14159265 * y / 0.05));
        return band * (0.22 + (std::abs(x - 0.5) < 0.03 ? vertebra : 0.0));
    });
    c.add(a.heart_cx - a.heart_rx - 0.02, a.heart_cy - a.heart_ry - 0.02, a.heart_cx + a.heart_rx + 0.02,
          a.heart_cy + a.heart_ry + 0.02,
          [&](double x, double y) { return 0.2 * soft_ellipse(x, y, a.heart_cx, a.heart_cy, a.heart_rx, a.heart_ry, 0.02); });
    // Ribs: posterior arcs from the spine outwards and down, over both lungs.
    for (int side = 0; side < 2; ++side) {
        const double dir = side == 0 ? -1.0 : 1.0;
        for (int i = 0; i < 10; ++i) {
            const double y0 = a.rib_start + i * a.rib_spacing;
            std::vector<double> rib;
            for (int k = 0; k <= 12; ++k) {
                const double dx = 0.36 * k / 12;
                rib.push_back(0.5 + dir * (0.03 + dx));
                rib.push_back(y0 - 0.04 * dx + 0.9 * dx * dx);
            }
            paint_curve(c, rib, 0.018, 0.06);
        }
        // Clavicle.
        paint_line(c, 0.5 + dir * 0.04, a.rib_start - 0.01, 0.5 + dir * 0.3, a.rib_start - 0.06, 0.022, 0.16);
    }
    // Vessels branching out of each hilum.
    for (int side = 0; side < 2; ++side) {
        const double hx = 0.5 + (side == 0 ? -1 : 1) * 0.08, hy = a.lung_cy + 0.02;
        for (int branch = 0; branch < 12; ++branch) {
            double angle = (side == 0 ? 3.14159265 : 0.0) + rng.uniform(-1.2, 1.2);
            double x = hx + rng.uniform(-0.02, 0.02), y = hy + rng.uniform(-0.03, 0.03), width = 0.012;
            for (int step = 0; step < 6; ++step) {
                const double length = rng.uniform(0.02, 0.04);
                const double nx = x + length * std::cos(angle), ny = y + length * std::sin(angle);
                if (lung_inside(a, side, nx, ny) < 0.5) break;
                paint_line(c, x, y, nx, ny, width, 0.06);
                x = nx;
                y = ny;
                width *= 0.8;
                angle += rng.uniform(-0.4, 0.4);
            }
        }
    }
    paint_normal_lung_detail(c, a, rng);
}

}  // namespace agcnn::data::synth
