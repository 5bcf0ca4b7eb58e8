#!/usr/bin/env bash
# Downloads the public TinyStories checkpoints in the llama2.c format (MIT licence, by Andrej Karpathy)
# into this folder: stories15M.bin + tokenizer.bin (the Llama 2 vocabulary) and stories260K.bin + tok512.bin.
# Needs a network. The files are ignored by git; never commit them.
#   data/models/fetch.sh            # stories15M.bin, stories260K.bin, tok512.bin, tokenizer.bin
#   data/models/fetch.sh 42M 110M   # also stories42M.bin and stories110M.bin
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
hf=https://huggingface.co/karpathy/tinyllamas/resolve/main
gh=https://raw.githubusercontent.com/karpathy/llama2.c/master
get() { # url file
  if [ -s "$here/$2" ]; then echo "have $2"; return; fi
  echo "fetching $2"
  curl -fL --retry 3 -o "$here/$2.part" "$1" && mv "$here/$2.part" "$here/$2"
}
get "$hf/stories15M.bin" stories15M.bin
get "$hf/stories260K/stories260K.bin" stories260K.bin
get "$hf/stories260K/tok512.bin" tok512.bin
get "$gh/tokenizer.bin" tokenizer.bin
for size in "$@"; do get "$hf/stories${size}.bin" "stories${size}.bin"; done
echo "models in $here"
