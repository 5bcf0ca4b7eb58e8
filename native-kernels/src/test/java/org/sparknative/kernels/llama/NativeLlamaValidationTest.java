package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.FreshJvm;
import org.sparknative.kernels.NativeStatus;

/** Argument validation, lifecycle, the sampler's edge cases, and loading in a fresh JVM. */
class NativeLlamaValidationTest {
    static final LlamaConfig SMALL = new LlamaConfig(32, 40, 1, 4, 2, 67, 16, true);

    @TempDir
    Path tmp;

    private Path small() throws IOException {
        Path file = tmp.resolve("small.bin");
        SyntheticCheckpoint.write(file, SMALL, 3, CheckpointFormat.LEGACY, 0.3f);
        return file;
    }

    private static void assertIae(String fragment, Executable e) {
        IllegalArgumentException x = assertThrows(IllegalArgumentException.class, e);
        assertTrue(x.getMessage().contains(fragment), "'" + x.getMessage() + "' should name '" + fragment + "'");
    }

    @Test
    void badArgumentsAreIllegalArgumentExceptions() throws IOException {
        try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(small())); NativeLlamaBatch b = m.newBatch(2, 3)) {
            int[] z3 = new int[3];
            assertIae("rows = 4", () -> b.forward(4, new int[4], new int[4], new int[4], 0, null, 1));
            assertIae("rows = -1", () -> b.forward(-1, z3, z3, z3, 0, null, 1));
            assertIae("row 1: token 67", () -> b.forward(2, new int[] {0, 67}, new int[] {0, 1}, new int[2], 0, null, 1));
            assertIae("row 0: token -1", () -> b.forward(1, new int[] {-1}, new int[1], new int[1], 0, null, 1));
            assertIae("row 1: position 16", () -> b.forward(2, new int[2], new int[] {0, 16}, new int[2], 0, null, 1));
            assertIae("row 0: position -3", () -> b.forward(1, new int[1], new int[] {-3}, new int[1], 0, null, 1));
            assertIae("row 2: slot 2", () -> b.forward(3, z3, new int[] {0, 1, 2}, new int[] {0, 1, 2}, 0, null, 1));
            assertIae("row 0: slot -1", () -> b.forward(1, new int[1], new int[1], new int[] {-1}, 0, null, 1));
            assertIae("nLogits = 3", () -> b.forward(2, z3, new int[] {0, 1, 0}, z3, 3, z3, 1));
            assertIae("logitRows[0] = 2", () -> b.forward(2, z3, new int[] {0, 1, 0}, z3, 1, new int[] {2}, 1));
            assertIae("logitRows has 0 entries", () -> b.forward(1, z3, z3, z3, 1, new int[0], 1));
            assertIae("strictly ascending: logitRows[1] = 0 follows logitRows[0] = 1",
                () -> b.forward(2, z3, new int[] {0, 1, 0}, z3, 2, new int[] {1, 0}, 1));
            assertIae("strictly ascending: logitRows[1] = 1 follows logitRows[0] = 1",
                () -> b.forward(2, z3, new int[] {0, 1, 0}, z3, 2, new int[] {1, 1}, 1));
            assertIae("tokens has 1 entries", () -> b.forward(2, new int[1], z3, z3, 0, null, 1));
            assertIae("row 2 repeats slot 1 position 4 of row 0",
                () -> b.forward(3, z3, new int[] {4, 4, 4}, new int[] {1, 0, 1}, 0, null, 1));
            assertIae("threads", () -> b.forward(1, z3, z3, z3, 0, null, 0));
            assertEquals(0, b.logitRowCount());
            assertIae("logits row 0", () -> b.logit(0, 0));

            b.forward(2, new int[] {5, 6}, new int[] {0, 1}, new int[] {0, 0}, 1, new int[] {1}, 1);
            assertEquals(1, b.logitRowCount());
            assertIae("logits row 1", () -> b.logit(1, 0));
            assertIae("token 67", () -> b.logit(0, 67));
            assertIae("dst has 3", () -> b.copyLogits(0, new float[3]));
            assertIae("temperature", () -> b.sample(0, -1f, 0.9f, new long[1]));
            assertIae("temperature", () -> b.sample(0, Float.NaN, 0.9f, new long[1]));
            assertIae("topp", () -> b.sample(0, 1f, Float.NaN, new long[1]));
            assertIae("rngState", () -> b.sample(0, 1f, 0.9f, new long[0]));
            int t = b.sample(0, 0f, 0.9f, new long[1]);
            assertTrue(t >= 0 && t < 67);
            // the raw entry point re-checks what it can and returns an error code instead of crashing
            try (IntPointer bad = new IntPointer(new int[] {99, 0, 0, 0}); IntPointer zeros = new IntPointer(4L);
                 LlamaKernels.Step step = new LlamaKernels.Step()) {
                zeros.put(new int[4]);
                long h = handleOf(b);
                int err = NativeStatus.ERR_ARG.code();
                assertEquals(err, LlamaKernels.forward(h, null, 1), "no step");
                step.nRows(1).token(bad).pos(zeros).slot(zeros);
                assertEquals(err, LlamaKernels.forward(h, step, 1), "token 99");
                step.token(zeros).nRows(4);
                assertEquals(err, LlamaKernels.forward(h, step, 1), "4 rows > maxRowsPerStep 3");
                step.nRows(1).slot(null);
                assertEquals(err, LlamaKernels.forward(h, step, 1), "null slots");
                step.slot(zeros);
                assertEquals(NativeStatus.OK.code(), LlamaKernels.forward(h, step, 1), "null logits flags: no logits");
            }
        }
        assertIae("maxSlots", () -> {
            try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(small()))) {
                m.newBatch(0, 1);
            }
        });
    }

    private static long handleOf(NativeLlamaBatch b) {
        try {
            java.lang.reflect.Field f = NativeLlamaBatch.class.getDeclaredField("handle");
            f.setAccessible(true);
            return f.getLong(b);
        } catch (ReflectiveOperationException e) {
            throw new AssertionError(e);
        }
    }

    @Test
    void lifecycle() throws IOException {
        NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(small()));
        NativeLlamaBatch b = m.newBatch(1, 1);
        m.close();
        m.close();
        assertTrue(m.isClosed());
        assertThrows(IllegalStateException.class, () -> m.newBatch(1, 1));
        // the mapping outlives the model's close() while a batch is open
        b.forward(1, new int[] {3}, new int[1], new int[1], 1, new int[1], 1);
        assertTrue(Float.isFinite(b.logit(0, 5)));
        b.close();
        b.close();
        assertThrows(IllegalStateException.class, () -> b.forward(1, new int[1], new int[1], new int[1], 0, null, 1));
        assertThrows(IllegalStateException.class, () -> b.logit(0, 0));
    }

    /** @return this process's native threads named sn-llama-pool (the batches' workers) */
    private static long osThreads() throws IOException {
        try (java.util.stream.Stream<Path> tasks = Files.list(Path.of("/proc/self/task"))) {
            return tasks.filter(t -> {
                try {
                    return Files.readString(t.resolve("comm")).trim().equals("sn-llama-pool");
                } catch (IOException e) {
                    return false; // the thread ended meanwhile
                }
            }).count();
        }
    }

    @Test
    void workerThreadsEndWithTheirBatch() throws IOException {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isDirectory(Path.of("/proc/self/task")), "Linux /proc only");
        try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(small()))) {
            long before = osThreads();
            float[] first = null;
            for (int i = 0; i < 20; i++) {
                try (NativeLlamaBatch b = m.newBatch(1, 2)) {
                    for (int threads : new int[] {2, 3, 2, 1, 4}) { // the pool is rebuilt when the count changes
                        b.forward(2, new int[] {3, 4}, new int[] {0, 1}, new int[2], 1, new int[] {1}, threads);
                        float[] row = new float[SMALL.vocabSize()];
                        b.copyLogits(0, row);
                        if (first == null) {
                            first = row;
                        }
                        assertEquals(java.util.Arrays.toString(first), java.util.Arrays.toString(row), threads + " threads");
                    }
                    assertEquals(before + 3, osThreads(), "a 4-thread step leaves 3 pool threads while the batch lives");
                }
            }
            assertEquals(before, osThreads(), "pool threads are joined when the batch closes");
        }
    }

    @Test
    void nativeSideRefusesAFileThatChangedAfterOpen() throws IOException {
        Path f = small();
        Checkpoint ckpt = Checkpoint.open(f);
        Files.write(f, new byte[] {0}, StandardOpenOption.APPEND);
        CheckpointException e = assertThrows(CheckpointException.class, () -> NativeLlamaModel.map(ckpt));
        assertTrue(e.getMessage().contains("expected " + ckpt.fileBytes() + " bytes") && e.getMessage().contains(
            "got " + (ckpt.fileBytes() + 1)), e.getMessage());
        Files.delete(f);
        e = assertThrows(CheckpointException.class, () -> NativeLlamaModel.map(ckpt));
        assertTrue(e.getMessage().contains("cannot open"), e.getMessage());
    }

    /** llama2.c's xorshift, for predicting the sampler's coin. */
    private static float coin(long[] s) {
        s[0] ^= s[0] >>> 12;
        s[0] ^= s[0] << 25;
        s[0] ^= s[0] >>> 27;
        int u = (int) ((s[0] * 0x2545F4914F6CDD1DL) >>> 32);
        return (u >>> 8) / 16777216.0f;
    }

    @Test
    void samplerSemantics() {
        try (FloatPointer logits = new FloatPointer(4); FloatPointer probs = new FloatPointer(4);
             FloatPointer index = new FloatPointer(16)) {
            logits.put(new float[] {0.5f, 0.5f, 0.5f, 0.5f});
            int[] seen = new int[4];
            for (long seed = 1; seed <= 400; seed++) {
                long[] rng = {seed};
                long[] mine = {seed};
                float c = coin(mine);
                // four equal candidates in id order; top-p 0.5 keeps 0, 1, 2 (cumulative 0.75 > 0.5), r = coin * 0.75
                int got = LlamaKernels.sample(logits.address(), 4, 1f, 0.5f, rng, probs.address(), index.address());
                float r = c * 0.75f;
                int want = r < 0.25f ? 0 : r < 0.5f ? 1 : 2;
                assertEquals(want, got, "seed " + seed);
                assertEquals(mine[0], rng[0], "rng advanced once");
                seen[got]++;
                // plain multinomial: first i with coin < cdf
                rng[0] = seed;
                int mult = LlamaKernels.sample(logits.address(), 4, 2f, 1f, rng, probs.address(), index.address());
                assertEquals(c < 0.25f ? 0 : c < 0.5f ? 1 : c < 0.75f ? 2 : 3, mult, "seed " + seed);
            }
            assertTrue(seen[0] > 0 && seen[1] > 0 && seen[2] > 0 && seen[3] == 0, java.util.Arrays.toString(seen));
            // argmax: the first maximum, and the RNG untouched
            logits.put(new float[] {1f, 3f, 3f, -2f});
            long[] rng = {77};
            assertEquals(1, LlamaKernels.sample(logits.address(), 4, 0f, 0.9f, rng, probs.address(), index.address()));
            assertEquals(77, rng[0]);
            // where llama2.c would index probindex[-1] (no top-p candidate), the argmax
            logits.put(new float[] {0f, 0f, 0f, 0f});
            assertEquals(0, LlamaKernels.sample(logits.address(), 4, 1f, 1e-6f, rng, probs.address(), index.address()));
            assertEquals(0, LlamaKernels.sample(logits.address(), 1, 1f, 0.9f, rng, probs.address(), index.address()));
            assertEquals(NativeStatus.ERR_ARG.code(), LlamaKernels.sample(logits.address(), 0, 1f, 0.9f, rng, probs.address(),
                index.address()));
        }
    }

    /** Loads the JNI libraries in a brand-new JVM and runs a 2-thread step there. */
    @Test
    void loadsInAFreshJvm() throws Exception {
        String out = FreshJvm.run(FreshJvmProbe.class, small().toString());
        assertTrue(out.contains("probe ok loads=1"), out);
    }
}
