#!/usr/bin/env bash
# Runs the Spark-free benchmark harnesses on a GPU machine that has CUDA but no Java, Maven or Spark,
# from the folder .device/ that ../shared/hooks/device-pack.sh packs (a small JRE and the classpath of
# native-kernels and udf). Usage, from the project root on that machine:
#   bin/device-bench.sh [integrate|generate|all] [GenerateBenchmark key=value ...]
# integrate: IntegrateBenchmark at 20,000 and 10,000,000 rows, the CPU kernel on every core against CUDA.
# generate:  GenerateBenchmark on the stories15M and stories110M shapes (see its Javadoc for the keys).
set -euo pipefail
dev=${DEVICE_DIR:-.device}
[ -x "$dev/jre/bin/java" ] || { echo "no $dev/jre: run ../shared/hooks/device-pack.sh native-kernels,udf first" >&2; exit 2; }
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
cp=$(find "$dev/classes" -mindepth 2 -maxdepth 2 -type d -name main | tr '\n' ':')
for jar in "$dev"/lib/*.jar; do
  case "$jar" in *console-standalone*) ;; *) cp="$cp$jar:" ;; esac
done
java=("$dev/jre/bin/java" -Xmx8g -cp "$cp")
what=${1:-all}
[ $# -gt 0 ] && shift
if [ "$what" = integrate ] || [ "$what" = all ]; then
  "${java[@]}" org.sparknative.udf.bench.IntegrateBenchmark 20000,10000000 "$(nproc)" 3
fi
if [ "$what" = generate ] || [ "$what" = all ]; then
  "${java[@]}" org.sparknative.udf.bench.GenerateBenchmark "$@"
fi
