#!/usr/bin/env bash
# The GGUF decode benchmark (org.sparknative.udf.bench.GgufBenchmark, see its Javadoc): our C kernels on synthetic
# stories110M-shape GGUF files of each type, at 1, 8 and 32 slots on 2 threads, beside llama.cpp's
# llama-batched-bench on the same files when LLAMA_BATCHED_BENCH names it. Prints one Markdown table.
#   mvn -q -o -pl native-kernels,udf -DskipTests package     # once: builds the classes and the C library
#   LLAMA_BATCHED_BENCH=/path/to/llama-batched-bench bin/gguf-bench.sh [key=value ...]
# Keys (defaults): types=f32,f16,q8_0,q4_0 slots=1,8,32 threads=2 prompt=16 steps=64 repeats=3 seed=1
# dir=$TMPDIR/spark-native-gguf-bench (the model files, about 1.3 GB, kept for the next run) llama-args= (extra llama.cpp arguments, e.g. "-fa on")
# probe=true shape=dim=768,hidden=2048,layers=12,heads=12,kv_heads=12,vocab=32000,seq=1024
# Environment: JAVA_HOME (else java on PATH), GGUF_BENCH_JAVA_OPTS (default -Xmx3g).
set -euo pipefail
home=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
classes="$home/native-kernels/target/classes:$home/udf/target/classes"
if [ ! -f "$home/udf/target/classes/org/sparknative/udf/bench/GgufBenchmark.class" ]; then
  echo "gguf-bench: not built; run: mvn -q -o -pl native-kernels,udf -DskipTests package" >&2
  exit 2
fi
# The harness needs JavaCPP only (no Arrow, no Spark): native-kernels' runtime classpath, written once.
cpfile="$home/native-kernels/target/runtime.classpath"
if [ ! -s "$cpfile" ]; then
  (cd "$home" && mvn -B -ntp -q -o -pl native-kernels dependency:build-classpath -Dmdep.includeScope=runtime \
    -Dmdep.outputFile="$cpfile" >&2)
fi
java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
opts=()
read -r -a opts <<< "${GGUF_BENCH_JAVA_OPTS:--Xmx3g}" || true
exec "$java" "${opts[@]}" -cp "$classes:$(cat "$cpfile")" org.sparknative.udf.bench.GgufBenchmark "$@"
