/*
 * spark-native: the one translation unit of the CUDA fatbin (sparknative.fatbin). nvcc builds a fatbin
 * from one input file (it refuses -o with several inputs outside a link step), so every workload's
 * kernels are included here; each piece keeps its own file and header of shared arithmetic.
 */
#include "sn_integrate.cu"
#include "sn_llama.cu"
