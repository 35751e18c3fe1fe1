#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include "agcnn/agcnn.hpp"
TEST_CASE("param count") {
    agcnn::nn::ResNet50 net({});
    CHECK(net.parameter_count() == 25557032);
}
