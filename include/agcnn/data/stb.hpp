// agcnn/data/stb.hpp — the stb_image decoder (PNG and JPEG only) and stb_image_write, compiled
// once per translation unit.
//
// ODR: the engine is header-only, so the stb implementations are compiled here with static
// linkage (STB_IMAGE_STATIC, STB_IMAGE_WRITE_STATIC): every translation unit that includes this
// header gets its own private copy, and no two units define the same external symbol.
// STBI_ONLY_PNG + STBI_ONLY_JPEG keep the attack surface to the two formats agcnn reads through
// stb (baseline and progressive JPEG, 8-bit; PNG at 1 to 16 bits).
#pragma once

#include <string>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_NO_STDIO
#define STBI_MAX_DIMENSIONS 16384  // = data::kMaxImageSide, a second guard inside stb
#include <stb_image.h>
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#include <stb_image_write.h>
#pragma GCC diagnostic pop

namespace agcnn::data::detail {

// stb's reason for its last failure; stb may give none (a null pointer), which is never streamed.
inline std::string stb_failure_text() {
    const char* reason = stbi_failure_reason();
    return reason != nullptr ? reason : "no reason given by the decoder";
}

}  // namespace agcnn::data::detail
