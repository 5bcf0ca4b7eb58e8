package org.sparknative.job;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.udf.bench.GenerateBenchmark;
import org.sparknative.udf.generate.SyntheticModels;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code spark-native bench-generate}: generation tokens/s per backend, slot count and thread count,
 * through the job's UDF classes but without Spark (see {@link GenerateBenchmark}).
 */
@Command(name = "bench-generate", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Generation throughput (tokens/s) by backend, slot count, thread count and concurrent tasks, no Spark needed.")
final class BenchGenerateCommand implements Callable<Integer> {
    @Option(names = "--model", description = "llama2.c checkpoint; repeatable with --tokenizer in the same order.")
    List<Path> models = new ArrayList<>();

    @Option(names = "--tokenizer", description = "Tokenizer of each --model.")
    List<Path> tokenizers = new ArrayList<>();

    @Option(names = "--synthetic-model", description = "A synthetic model shape (repeatable), e.g. "
        + "dim=288,hidden=768,layers=6,heads=6,kv_heads=6,vocab=32000,seq=256.")
    List<String> synthetic = new ArrayList<>();

    @Option(names = {"--slots", "--batch"}, split = ",", defaultValue = "1,8,32,64",
        description = "KV cache slot counts (sequences decoded together); --batch is the old name (default: ${DEFAULT-VALUE}).")
    int[] slots;

    @Option(names = "--threads", split = ",", defaultValue = "1,2", description = "Thread counts (default: ${DEFAULT-VALUE}).")
    int[] threads;

    @Option(names = {"--java-slots", "--java-batch"}, split = ",", defaultValue = "1,8",
        description = "Slot counts for the Java reference; empty to skip; --java-batch is the old name (default: ${DEFAULT-VALUE}).")
    int[] javaSlots;

    @Option(names = "--submitters", split = ",", defaultValue = "1", description = "Concurrent tasks for the cpu rows, "
        + "each with its own slots and threads (an executor's task slots) (default: ${DEFAULT-VALUE}).")
    int[] submitters;

    @Option(names = "--cuda-slots", split = ",", description = "Slot counts of the CUDA backend's "
        + "shared decode loop on device 0, e.g. 1,8,64,256,1024 (default: none, no CUDA rows).")
    int[] cudaSlots = new int[0];

    @Option(names = "--cuda-submitters", split = ",", defaultValue = "1,8", description = "Concurrent tasks feeding the "
        + "CUDA loop (default: ${DEFAULT-VALUE}).")
    int[] cudaSubmitters;

    @Option(names = "--cuda-matmul", defaultValue = "invariant", description = "invariant (batch-invariant kernels) or "
        + "cublas (faster, not batch-invariant) (default: ${DEFAULT-VALUE}).")
    String cudaMatmul;

    @Option(names = "--tokens", defaultValue = "64", description = "New tokens per sequence (default: ${DEFAULT-VALUE}).")
    int tokens;

    @Option(names = "--rounds", defaultValue = "2", description = "Sequences per slot (default: ${DEFAULT-VALUE}).")
    int rounds;

    @Option(names = "--summary", description = "Also write the rows as JSON to this file.")
    Path summary;

    @Override
    public Integer call() throws Exception {
        if (models.size() != tokenizers.size()) {
            throw new IllegalArgumentException("give one --tokenizer per --model");
        }
        if (models.isEmpty() && synthetic.isEmpty()) {
            throw new IllegalArgumentException("give --model/--tokenizer or --synthetic-model");
        }
        org.sparknative.kernels.cuda.MatmulMode matmul;
        try {
            matmul = org.sparknative.kernels.cuda.MatmulMode.parse(cudaMatmul);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--cuda-matmul " + e.getMessage());
        }
        if (cudaSlots.length > 0) {
            try {
                org.sparknative.udf.BackendSelection.requireUsable(org.sparknative.udf.Backend.CUDA);
            } catch (org.sparknative.kernels.cuda.CudaUnavailableException e) {
                throw new UsageException("--cuda-slots: " + e.getMessage());
            }
        }
        GenerateBenchmark.Plan plan = new GenerateBenchmark.Plan(slots, threads, submitters, javaSlots, cudaSlots,
            cudaSubmitters, matmul, tokens, rounds);
        List<GenerateBenchmark.Row> rows = new ArrayList<>();
        for (int i = 0; i < models.size(); i++) {
            rows.addAll(GenerateBenchmark.run(models.get(i), tokenizers.get(i), models.get(i).getFileName().toString(),
                plan));
            System.out.print(GenerateBenchmark.table(rows));
        }
        for (String s : synthetic) {
            LlamaConfig shape = LlamaConfig.parse(s);
            Path dir = SyntheticModels.defaultDir();
            rows.addAll(GenerateBenchmark.run(SyntheticModels.checkpoint(dir, shape, 1),
                SyntheticModels.byteLevelTokenizer(dir, shape.vocabSize()), GenerateBenchmark.label(shape), plan));
        }
        System.out.println();
        System.out.print(GenerateBenchmark.table(rows));
        if (summary != null) {
            Report.writeJson(rows, summary);
        }
        return 0;
    }
}
