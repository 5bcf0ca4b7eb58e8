package org.sparknative.job;

import java.util.List;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code spark-native bench-generate}: the old name of {@code bench --workloads generate}. Its old options that
 * name the same things still work ({@code --batch} for {@code --slots}, {@code --tokens} for
 * {@code --max-new-tokens}, {@code --model}, {@code --tokenizer}, {@code --synthetic-model}, {@code --summary});
 * those of the Spark-free harness it used to be are refused with what replaces them. That harness stays as
 * {@code java -cp spark-native-job.jar org.sparknative.udf.bench.GenerateBenchmark} (what {@code bin/device-bench.sh}
 * runs on a machine without Spark).
 */
@Command(name = "bench-generate", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"The old name of 'bench --workloads generate': generation tokens/s by model, backend and slot count, "
        + "through Spark, with the same report options."})
final class BenchGenerateCommand extends BenchCommand {
    @Option(names = "--submitters", hidden = true)
    String submitters;

    @Option(names = {"--java-slots", "--java-batch"}, hidden = true)
    String javaSlots;

    @Option(names = "--cuda-slots", hidden = true)
    String cudaSlots;

    @Option(names = "--cuda-submitters", hidden = true)
    String cudaSubmitters;

    @Option(names = "--cuda-matmul", hidden = true)
    String cudaMatmul;

    @Option(names = "--rounds", hidden = true)
    String rounds;

    @Override
    List<String> defaultWorkloads() {
        return List.of("generate");
    }

    @Override
    public Integer call() throws Exception {
        refuse(submitters, "--submitters", "--master local[N] or --partitions (concurrent tasks are the executor's cores)");
        refuse(javaSlots, "--java-slots", "--backends cpu,java with --slots");
        refuse(cudaSlots, "--cuda-slots", "--backends cuda with --slots");
        refuse(cudaSubmitters, "--cuda-submitters", "--backends cuda; the executor's tasks share its decode loop");
        refuse(cudaMatmul, "--cuda-matmul", "--conf " + Jobs.CUDA_MATMUL_CONF + "=cublas");
        refuse(rounds, "--rounds", "--prompt-count");
        return super.call();
    }

    private static void refuse(String value, String option, String instead) {
        if (value != null) {
            throw new UsageException("bench-generate now runs 'bench --workloads generate' through Spark; " + option
                + " was the Spark-free harness's: use " + instead + " (the harness itself: java -cp spark-native-job.jar "
                + "org.sparknative.udf.bench.GenerateBenchmark)");
        }
    }
}
