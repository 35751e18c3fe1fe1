// libFuzzer target: the DICOM path (dicom_structure.hpp -> GDCM -> dicom_pixels.hpp) on arbitrary
// bytes, as `agcnn` reads a .dcm file: the header first, then the image with each VOI mode. In
// this process (the *_in_process entries), so that what crashes GDCM shows here; agcnn itself runs
// GDCM in a child process (isolated_call.hpp) and turns such a crash into an error line. Every sample of a decoded image is read, so a short buffer shows up
// under AddressSanitizer. GDCM itself is not instrumented (Debian's shared library): a crash or an
// assert() inside it still stops the run.
#include <cstddef>
#include <cstdint>

#include "agcnn/data/image_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    try {
        agcnn::data::parse_dicom_header_in_process(bytes, "fuzz.dcm");
        unsigned sum = 0;
        for (auto voi : {agcnn::data::VoiMode::file, agcnn::data::VoiMode::minmax, agcnn::data::VoiMode::none}) {
            agcnn::data::ImageReadOptions options;
            options.dicom.voi = voi;
            const agcnn::data::GrayImage image = agcnn::data::decode_dicom_in_process(bytes, "fuzz.dcm", options.dicom);
            for (std::uint16_t v : image.deep) sum += v;
        }
        volatile unsigned sink = sum;
        (void)sink;
    } catch (const agcnn::Error&) {
    }
    return 0;
}
