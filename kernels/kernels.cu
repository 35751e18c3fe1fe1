// kernels/kernels.cu — the translation unit of agcnn's own CUDA kernels (one .cuh per family).
#include "kernels/attention.cuh"
#include "kernels/batch_norm.cuh"
#include "kernels/elementwise.cuh"
#include "kernels/image.cuh"
#include "kernels/optim.cuh"
#include "kernels/pool.cuh"
