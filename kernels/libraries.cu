// kernels/libraries.cu — the translation unit of the ops that run on NVIDIA's libraries:
// convolution on cuDNN, linear on cuBLAS.
#include "kernels/conv2d.cuh"
#include "kernels/linear.cuh"
