// Writes the seed corpus of fuzz_dicom into the folder given: small DICOM files in every
// photometric interpretation x bits x transfer syntax that agcnn writes (data/synth_dicom.hpp),
// plus rescale, a VOI LUT function, both pixel spacings and a patient-named file.
#include <cstdio>
#include <fstream>
#include <string>

#include "agcnn/data/synth_dicom.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_dicom_seeds FOLDER\n");
        return 2;
    }
    using namespace agcnn::data;
    GrayImage picture{24, 16, {}, {}};
    for (int i = 0; i < 24 * 16; ++i) picture.pixels.push_back(static_cast<std::uint8_t>((i * 37) % 256));
    int n = 0;
    auto save = [&](const std::string& bytes) {
        std::ofstream(std::string(argv[1]) + "/seed-" + std::to_string(n++) + ".dcm", std::ios::binary) << bytes;
    };
    for (bool mono1 : {false, true})
        for (int bits : {8, 12, 16})
            for (const char* syntax : kDicomTransferSyntaxes) save(synth_dicom(picture, {bits, mono1, syntax}, 7));
    const std::vector<std::uint16_t> stored = synth_stored_values(picture, {12, false, "explicit"});
    DicomWriteSpec spec;
    spec.bits_stored = 12;
    spec.slope = 2;
    spec.intercept = -1024;
    spec.window = DicomWindow{40, 400, "SIGMOID"};
    spec.spacing = PixelSpacing{0.2, 0.1, "PixelSpacing"};
    spec.text = {{0x0010, 0x0010, "PN", "DOE^JANE"}, {0x0010, 0x0020, "LO", "ID-1234"}};
    save(encode_dicom(stored.data(), 24, 16, spec));
    std::printf("%d seeds in %s\n", n, argv[1]);
    return 0;
}
