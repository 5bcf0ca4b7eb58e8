#!/bin/sh
# Host emulation of the CUDA Llama-2 kernels against the CPU forward pass (no GPU needed); see sn_llama_cuda_emu.cpp.
set -e
here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../main"
out=${TMPDIR:-/tmp}/sn_llama_cuda_emu
g++ -std=c++20 -O2 -ffp-contract=off -fno-math-errno -pthread -Wall -Wno-unknown-pragmas \
    -I"$src/c" -I"$src/cuda" "$here/sn_llama_cuda_emu.cpp" -o "$out"
exec "$out" "$@"
