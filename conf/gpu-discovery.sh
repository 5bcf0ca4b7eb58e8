#!/usr/bin/env bash
# Spark's GPU discovery script for spark-native executors: prints the executor's GPUs as Spark's
# ResourceInformation JSON, {"name": "gpu", "addresses": ["0", "1"]}, the addresses being CUDA device
# ordinals (what --backend cuda opens for a task that Spark gave that address).
#
# Use it with:
#   --conf spark.executor.resource.gpu.amount=1
#   --conf spark.executor.resource.gpu.discoveryScript=conf/gpu-discovery.sh   (a path on every worker)
#   --conf spark.task.resource.gpu.amount=0.0625                               (16 tasks share one GPU)
#
# The ordinals come from nvidia-smi, in CUDA's order, and honour CUDA_VISIBLE_DEVICES the way CUDA
# does (the visible devices are renumbered 0, 1, ...). No nvidia-smi, or no GPU: an empty list, and
# Spark refuses to start an executor that asked for GPUs, naming this script.
set -u
count=0
if command -v nvidia-smi >/dev/null 2>&1; then
  count=$(nvidia-smi --query-gpu=index --format=csv,noheader 2>/dev/null | grep -c '^[[:space:]]*[0-9]')
fi
if [ -n "${CUDA_VISIBLE_DEVICES+set}" ]; then
  visible=$(printf '%s' "$CUDA_VISIBLE_DEVICES" | tr ',' '\n' | grep -c '[^[:space:]]')
  [ "$visible" -lt "$count" ] && count=$visible
fi
addresses=""
for ((i = 0; i < count; i++)); do
  addresses="$addresses${addresses:+, }\"$i\""
done
printf '{"name": "gpu", "addresses": [%s]}\n' "$addresses"
