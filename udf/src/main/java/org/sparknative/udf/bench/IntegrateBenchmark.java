package org.sparknative.udf.bench;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.sparknative.kernels.cuda.CudaDevice;
import org.sparknative.kernels.cuda.CudaIntegrate;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorRuntime;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.Seeds;
import org.sparknative.udf.integrate.IntegrateUdf;

/**
 * {@code integrate_f} throughput through the UDF class the Spark job uses ({@link IntegrateUdf} over Arrow
 * record batches), without Spark: the C kernel on a pool of CPU threads against the CUDA kernel, so that it
 * runs where only a JRE (and CUDA) is installed. The integrate job's {@code --compare} takes its
 * {@code kernel-only} lines from here; {@code spark-native bench-integrate} and {@link #main} print a table.
 *
 * <p>Rows are the pandas benchmark's ({@link #row}): {@code a = -|N(0,1)|}, {@code b = |N(0,1)|}, {@code n}
 * uniform in {@code [100, 20000)}, a function of {@code (seed, row id)} only. Each measurement is the best
 * of {@code reps} runs after one untimed warm-up. CUDA rows include the copies and split the time into
 * host-to-device copies, kernel and device-to-host copy (CUDA events).
 *
 * <p>Not thread-safe; a command-line tool.
 */
public final class IntegrateBenchmark {
    /** Rows per Arrow record batch on the CPU (the job's default batch size). */
    public static final int CPU_BATCH_ROWS = 8192;
    /** Rows per record batch on the GPU: large, so that a launch fills the device. */
    public static final int CUDA_BATCH_ROWS = 1 << 20;

    private IntegrateBenchmark() {
    }

    /**
     * One measured configuration; times in seconds.
     *
     * @param backend       {@code cpu} or {@code cuda}
     * @param device        {@code N threads} or the GPU's name
     * @param copyInSeconds host-to-device copies (CUDA only, else NaN)
     * @param kernelSeconds kernel time (CUDA: events; NaN on the CPU, where it is the whole)
     * @param copyOutSeconds device-to-host copies (CUDA only, else NaN)
     */
    public record Row(String backend, String device, long rows, long evaluations, double seconds, double rowsPerSecond,
                      double evaluationsPerSecond, double copyInSeconds, double kernelSeconds, double copyOutSeconds) {
    }

    /** The rows of a run, in record batches; its owner closes it. */
    public static final class Input implements AutoCloseable {
        final List<Float8Vector> a = new ArrayList<>();
        final List<Float8Vector> b = new ArrayList<>();
        final List<IntVector> n = new ArrayList<>();
        long rows;
        long evaluations;

        /** @return record batch {@code i}'s {@code a} column */
        public Float8Vector a(int i) {
            return a.get(i);
        }

        /** @return record batch {@code i}'s {@code b} column */
        public Float8Vector b(int i) {
            return b.get(i);
        }

        /** @return record batch {@code i}'s {@code n} column */
        public IntVector n(int i) {
            return n.get(i);
        }

        /** @return the number of record batches */
        public int batches() {
            return a.size();
        }

        /** @return the sum of {@code n} over all rows (integrand evaluations) */
        public long evaluations() {
            return evaluations;
        }

        /** @return rows in all batches */
        public long rows() {
            return rows;
        }

        @Override
        public void close() {
            a.forEach(Float8Vector::close);
            b.forEach(Float8Vector::close);
            n.forEach(IntVector::close);
        }
    }

    /**
     * Row {@code id} of the workload of {@code seed}, into {@code ab[0] = a}, {@code ab[1] = b}; returns {@code n}.
     * The Spark job's generated input uses the same function.
     */
    public static int row(long seed, long id, double[] ab) {
        SplittableRandom r = new SplittableRandom(Seeds.mix(seed * 0x9E3779B97F4A7C15L + id));
        ab[0] = -Math.abs(r.nextGaussian());
        ab[1] = Math.abs(r.nextGaussian());
        return 100 + r.nextInt(19_900);
    }

    /** Row {@code id}'s {@code a} and {@code b} into {@code ab}; returns its {@code n} (which must be >= 1). */
    public interface RowSource {
        int row(long id, double[] ab);
    }

    /** @return {@code rows} generated rows in record batches of {@code batchRows} */
    public static Input generate(long rows, long seed, int batchRows, BufferAllocator allocator) {
        return input(rows, batchRows, (id, ab) -> row(seed, id, ab), allocator);
    }

    /** @return rows {@code 0 .. rows-1} of {@code source} in record batches of {@code batchRows} */
    public static Input input(long rows, int batchRows, RowSource source, BufferAllocator allocator) {
        Input in = new Input();
        double[] ab = new double[2];
        try {
            for (long start = 0; start < rows; start += batchRows) {
                int len = (int) Math.min(batchRows, rows - start);
                Float8Vector a = new Float8Vector("a", allocator);
                in.a.add(a);
                Float8Vector b = new Float8Vector("b", allocator);
                in.b.add(b);
                IntVector n = new IntVector("n", allocator);
                in.n.add(n);
                a.allocateNew(len);
                b.allocateNew(len);
                n.allocateNew(len);
                for (int i = 0; i < len; i++) {
                    int ni = source.row(start + i, ab);
                    a.set(i, ab[0]);
                    b.set(i, ab[1]);
                    n.set(i, ni);
                    in.evaluations += ni;
                }
                a.setValueCount(len);
                b.setValueCount(len);
                n.setValueCount(len);
                in.rows += len;
            }
            return in;
        } catch (RuntimeException | Error e) {
            in.close();
            throw e;
        }
    }

    /** The C kernel through {@link IntegrateUdf} on {@code threads} threads taking record batches in turn: the best of {@link #cpuSeconds}. */
    public static Row cpu(Input in, int threads, int reps, BufferAllocator allocator) {
        double best = Double.MAX_VALUE;
        for (double s : cpuSeconds(in, threads, reps, allocator)) {
            best = Math.min(best, s);
        }
        return new Row("cpu", threads + " threads", in.rows, in.evaluations, best, in.rows / best,
            in.evaluations / best, Double.NaN, Double.NaN, Double.NaN);
    }

    /**
     * Runs the C kernel over {@code in} on {@code threads} threads taking record batches in turn, once untimed and
     * then {@code reps} times timed.
     *
     * @return the wall seconds of each timed run, {@code reps} of them
     */
    public static double[] cpuSeconds(Input in, int threads, int reps, BufferAllocator allocator) {
        ExecutorRuntime.ensureNativeLoaded();
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            double[] seconds = new double[reps];
            for (int rep = 0; rep <= reps; rep++) {
                AtomicInteger next = new AtomicInteger();
                long t0 = System.nanoTime();
                List<Future<?>> fs = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    fs.add(pool.submit(() -> {
                        int i;
                        while ((i = next.getAndIncrement()) < in.a.size()) {
                            IntegrateUdf.apply(in.a.get(i), in.b.get(i), in.n.get(i), allocator, BadRowPolicy.FAIL,
                                RowLabels.positions(0)).x().close();
                        }
                    }));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
                if (rep > 0) {
                    seconds[rep - 1] = (System.nanoTime() - t0) / 1e9;
                }
            }
            return seconds;
        } catch (Exception e) {
            throw new IllegalStateException("CPU integrate benchmark failed: " + e, e);
        } finally {
            pool.shutdown();
        }
    }

    /** The CUDA kernel through {@link IntegrateUdf}, one record batch after another on one stream. */
    public static Row cuda(Input in, CudaDevice device, int reps, BufferAllocator allocator) {
        try (CudaIntegrate gpu = new CudaIntegrate(device)) {
            double best = Double.MAX_VALUE;
            CudaIntegrate.Timing bestSplit = null;
            for (int rep = 0; rep <= reps; rep++) {
                CudaIntegrate.Timing before = gpu.totals();
                long t0 = System.nanoTime();
                for (int i = 0; i < in.a.size(); i++) {
                    IntegrateUdf.apply(in.a.get(i), in.b.get(i), in.n.get(i), allocator, BadRowPolicy.FAIL,
                        RowLabels.positions(0), gpu).x().close();
                }
                double secs = (System.nanoTime() - t0) / 1e9;
                if (rep > 0 && secs < best) {
                    best = secs;
                    CudaIntegrate.Timing after = gpu.totals();
                    bestSplit = new CudaIntegrate.Timing(after.copyInNanos() - before.copyInNanos(),
                        after.kernelNanos() - before.kernelNanos(), after.copyOutNanos() - before.copyOutNanos());
                }
            }
            return new Row("cuda", device.toString(), in.rows, in.evaluations, best, in.rows / best, in.evaluations / best,
                bestSplit.copyInNanos() / 1e9, bestSplit.kernelNanos() / 1e9, bestSplit.copyOutNanos() / 1e9);
        }
    }

    /**
     * The Spark-free harness for a machine with only a JRE (and CUDA), e.g. the GPU machine of the device
     * tool: {@code java -cp ... org.sparknative.udf.bench.IntegrateBenchmark [rows,...] [threads] [reps]}
     * (defaults {@code 20000,10000000}, all cores, 3). Measures the CPU on all threads and, where CUDA is
     * usable, device 0, and prints {@link #table}; says why when CUDA is not usable.
     */
    public static void main(String[] args) {
        long[] counts = java.util.Arrays.stream((args.length > 0 ? args[0] : "20000,10000000").split(","))
            .mapToLong(Long::parseLong).toArray();
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : Runtime.getRuntime().availableProcessors();
        int reps = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        org.sparknative.kernels.cuda.CudaAvailability cuda = org.sparknative.kernels.cuda.Cuda.availability();
        System.out.println("CUDA: " + cuda.reason());
        List<Row> rows = new ArrayList<>();
        try (BufferAllocator alloc = ExecutorRuntime.newTaskAllocator("integrate benchmark")) {
            for (long count : counts) {
                try (Input in = generate(count, 42, CPU_BATCH_ROWS, alloc)) {
                    rows.add(cpu(in, threads, reps, alloc));
                }
                if (cuda.usable()) {
                    try (Input in = generate(count, 42, CUDA_BATCH_ROWS, alloc)) {
                        rows.add(cuda(in, org.sparknative.kernels.cuda.Cuda.device(0), reps, alloc));
                    }
                }
                System.out.print(table(rows));
            }
        }
    }

    /** Formats rows as a plain-text table, with each row's speedup over the CPU row of the same row count. */
    public static String table(List<Row> rows) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "%-8s %-36s %12s %9s %12s %9s %9s %9s %9s%n",
            "backend", "device", "rows", "seconds", "rows/s", "x cpu", "copy-in s", "kernel s", "copy-out s"));
        for (Row r : rows) {
            double cpu = rows.stream().filter(o -> o.backend().equals("cpu") && o.rows() == r.rows())
                .mapToDouble(Row::seconds).findFirst().orElse(Double.NaN);
            sb.append(String.format(Locale.ROOT, "%-8s %-36s %,12d %9.4f %12.4g %8.1fx %9.4f %9.4f %9.4f%n", r.backend(),
                r.device(), r.rows(), r.seconds(), r.rowsPerSecond(), cpu / r.seconds(), r.copyInSeconds(),
                r.kernelSeconds(), r.copyOutSeconds()));
        }
        return sb.toString();
    }
}
