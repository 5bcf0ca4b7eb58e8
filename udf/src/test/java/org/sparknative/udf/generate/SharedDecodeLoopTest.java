package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;

/**
 * The executor-wide decode loop's routing, driven by a fake device: the pure-Java reference backend wrapped
 * with a delay, a gate and failure injection, the way the CUDA backend sits behind the same seam. Every
 * submitter's results are compared with what its own per-task {@link ContinuousBatcher} writes for the same
 * rows: the same text, in the submitter's order, whatever else shared the steps.
 */
class SharedDecodeLoopTest {
    @TempDir
    static Path tmp;
    private static Checkpoint ckpt;
    private static Tokenizer tok;
    private final List<SharedDecodeLoop> loops = new ArrayList<>();
    private final ExecutorService pool = Executors.newCachedThreadPool();

    @BeforeAll
    static void model() {
        LlamaConfig cfg = new LlamaConfig(32, 64, 2, 4, 2, 300, 40, false);
        Path model = tmp.resolve("m.bin");
        Path tokFile = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, cfg, 29, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tokFile, 300);
        ckpt = Checkpoint.open(model);
        tok = Tokenizer.load(tokFile, 300);
    }

    @AfterEach
    void tearDown() {
        pool.shutdownNow();
        loops.forEach(SharedDecodeLoop::close);
    }

    /** The fake device: the reference backend, slowed down, gated, and failing on request. */
    private static final class FakeDevice extends ForwardingBackend {
        final AtomicInteger forwards = new AtomicInteger();
        final AtomicBoolean closed = new AtomicBoolean();
        volatile CountDownLatch gate = new CountDownLatch(0);
        volatile int failOnToken = -1;
        volatile long delayMs;

        FakeDevice(int slots, int rows) {
            super(new ReferenceBackend(ckpt, slots, rows));
        }

        @Override
        public void forward(int rows, int[] tokens, int[] positions, int[] slots, int nLogits, int[] logitRows) {
            try {
                assertTrue(gate.await(10, TimeUnit.SECONDS), "gate");
                if (delayMs > 0) {
                    Thread.sleep(delayMs);
                }
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            forwards.incrementAndGet();
            for (int i = 0; i < rows; i++) {
                if (tokens[i] == failOnToken) {
                    failOnToken = -1;
                    throw new IllegalStateException("cuLaunchKernel failed: CUDA_ERROR_LAUNCH_FAILED (719)");
                }
            }
            super.forward(rows, tokens, positions, slots, nLogits, logitRows);
        }

        @Override
        public void close() {
            closed.set(true);
            super.close();
        }
    }

    private SharedDecodeLoop loop(FakeDevice device, int prefill) {
        SharedDecodeLoop l = new SharedDecodeLoop("fake:0 m.bin", device, new JavaTokenCodec(tok), prefill);
        loops.add(l);
        return l;
    }

    /** Submitter {@code t}'s rows: distinct prompts, greedy and sampled, one error row. */
    private static GenerationScheduler.Request[] rows(int t, int n) {
        GenerationScheduler.Request[] r = new GenerationScheduler.Request[n];
        for (int i = 0; i < n; i++) {
            byte[] prompt = ("task " + t + " row " + i).getBytes(StandardCharsets.UTF_8);
            float temperature = (i % 2 == 0) ? 0f : 0.9f;
            r[i] = i == n - 1 ? GenerationScheduler.Request.nullPrompt()
                : GenerationScheduler.Request.of(prompt, new GenerationParams(8 + i, temperature, 0.9f, 1000L * t + i));
        }
        return r;
    }

    /** What a task's own batcher writes for the same rows. */
    private static GenerationScheduler.Result[] alone(GenerationScheduler.Request[] rows) {
        try (ReferenceBackend b = new ReferenceBackend(ckpt, 3, 3 + 5)) {
            return new ContinuousBatcher(b, new JavaTokenCodec(tok), BadRowPolicy.ROW_ERROR, 5)
                .run(rows, RowLabels.positions(0), null);
        }
    }

    private static void assertSameRows(GenerationScheduler.Result[] want, GenerationScheduler.Result[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertNotNull(got[i], what + " row " + i);
            assertArrayEquals(want[i].completion(), got[i].completion(), what + " row " + i);
            assertEquals(want[i].finishReason(), got[i].finishReason(), what + " row " + i);
            assertEquals(want[i].promptTokens(), got[i].promptTokens(), what + " row " + i);
            assertEquals(want[i].completionTokens(), got[i].completionTokens(), what + " row " + i);
        }
    }

    @Test
    void concurrentSubmittersShareStepsAndGetTheirOwnRowsBackInOrder() throws Exception {
        FakeDevice device = new FakeDevice(8, 8 + 6);
        device.gate = new CountDownLatch(1);
        SharedDecodeLoop loop = loop(device, 6);
        int tasks = 4;
        List<Future<GenerationScheduler.Result[]>> got = new ArrayList<>();
        List<AtomicInteger> progress = new ArrayList<>();
        List<Thread> progressThreads = new ArrayList<>();
        for (int t = 0; t < tasks; t++) {
            int task = t;
            AtomicInteger seen = new AtomicInteger();
            progress.add(seen);
            got.add(pool.submit(() -> loop.client(BadRowPolicy.ROW_ERROR).run(rows(task, 5), RowLabels.positions(0), r -> {
                seen.incrementAndGet();
                synchronized (progressThreads) {
                    progressThreads.add(Thread.currentThread());
                }
            })));
        }
        // Hold the first step until every task has submitted, so that their rows share steps.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (loop.stats().submissions() < tasks && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        device.gate.countDown();
        for (int t = 0; t < tasks; t++) {
            assertSameRows(alone(rows(t, 5)), got.get(t).get(30, TimeUnit.SECONDS), "task " + t);
            assertEquals(5, progress.get(t).get(), "progress of task " + t);
        }
        // The last step delivers its rows before the loop counts it: wait for the count to catch up.
        long counted = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (loop.stats().steps() < device.forwards.get() && System.nanoTime() < counted) {
            Thread.sleep(1);
        }
        SharedDecodeLoop.Stats s = loop.stats();
        assertEquals(tasks, s.submissions());
        assertEquals(8, s.slots());
        assertTrue(s.maxSubmittersPerStep() >= 2, "steps shared by submitters: " + s);
        assertEquals(device.forwards.get(), s.steps());
        for (Thread th : progressThreads) {
            assertTrue(!th.getName().startsWith("sn-decode-loop"), "progress ran on the submitter, not on " + th.getName());
        }
    }

    @Test
    void aSubmitterThatFailsLosesOnlyItsOwnRows() throws Exception {
        FakeDevice device = new FakeDevice(4, 4 + 4);
        device.delayMs = 1;
        SharedDecodeLoop loop = loop(device, 4);
        GenerationScheduler.Request[] bad = {
            GenerationScheduler.Request.of("ok".getBytes(StandardCharsets.UTF_8), new GenerationParams(20, 0f, 1f, 1)),
            GenerationScheduler.Request.of("q".repeat(60).getBytes(StandardCharsets.UTF_8), new GenerationParams(3, 0f, 1f, 1)),
        };
        Future<GenerationScheduler.Result[]> good1 = pool.submit(() -> loop.submit(rows(1, 4), BadRowPolicy.ROW_ERROR,
            RowLabels.positions(0), null, () -> false));
        Future<GenerationScheduler.Result[]> failing = pool.submit(() -> loop.submit(bad, BadRowPolicy.FAIL,
            i -> RowLabels.id(70 + i), null, () -> false));
        Future<GenerationScheduler.Result[]> good2 = pool.submit(() -> loop.submit(rows(2, 4), BadRowPolicy.ROW_ERROR,
            RowLabels.positions(0), null, () -> false));
        ExecutionException e = assertThrows(ExecutionException.class, () -> failing.get(30, TimeUnit.SECONDS));
        InvalidRowException bad1 = assertInstanceOf(InvalidRowException.class, e.getCause());
        assertEquals("id 71", bad1.row());
        assertTrue(bad1.getMessage().startsWith("generate: id 71: prompt is 62 tokens, more than the model's context of 40"), bad1.getMessage());
        assertSameRows(alone(rows(1, 4)), good1.get(30, TimeUnit.SECONDS), "task 1");
        assertSameRows(alone(rows(2, 4)), good2.get(30, TimeUnit.SECONDS), "task 2");
    }

    @Test
    void aCancelledSubmitterLeavesAndItsSlotsServeTheOthers() throws Exception {
        FakeDevice device = new FakeDevice(4, 4 + 4);
        device.delayMs = 2;
        SharedDecodeLoop loop = loop(device, 4);
        AtomicBoolean cancel = new AtomicBoolean();
        GenerationScheduler.Request[] longRows = new GenerationScheduler.Request[6];
        for (int i = 0; i < longRows.length; i++) {
            longRows[i] = GenerationScheduler.Request.of(("long " + i).getBytes(StandardCharsets.UTF_8),
                new GenerationParams(i == 0 ? 1 : 30, 0f, 1f, 5));
        }
        GenerationScheduler client = loop.client(BadRowPolicy.ROW_ERROR).cancelWhen(cancel::get);
        AtomicInteger cancelledProgress = new AtomicInteger();
        Future<GenerationScheduler.Result[]> cancelled = pool.submit(() -> client.run(longRows, RowLabels.positions(0), r -> {
            cancelledProgress.incrementAndGet();
            cancel.set(true); // the task is killed once its first row is out
        }));
        Future<GenerationScheduler.Result[]> other = pool.submit(() -> loop.submit(rows(3, 6), BadRowPolicy.ROW_ERROR,
            RowLabels.positions(0), null, () -> false));
        ExecutionException e = assertThrows(ExecutionException.class, () -> cancelled.get(30, TimeUnit.SECONDS));
        assertInstanceOf(CancellationException.class, e.getCause());
        assertTrue(cancelledProgress.get() >= 1);
        assertSameRows(alone(rows(3, 6)), other.get(30, TimeUnit.SECONDS), "the other task");
        // The loop goes on: a later submission still gets its rows.
        assertSameRows(alone(rows(4, 3)), loop.submit(rows(4, 3), BadRowPolicy.ROW_ERROR, RowLabels.positions(0), null,
            () -> false), "a later task");
    }

    @Test
    void aDeviceErrorFailsTheSubmittersInThatStepAndTheLoopGoesOn() throws Exception {
        FakeDevice device = new FakeDevice(8, 8 + 8);
        SharedDecodeLoop loop = loop(device, 8);
        int marker = tok.encode("#".getBytes(StandardCharsets.UTF_8), true, false)[2]; // "#" after BOS and the space
        device.failOnToken = marker;
        GenerationScheduler.Request[] poisoned = {
            GenerationScheduler.Request.of("#".getBytes(StandardCharsets.UTF_8), new GenerationParams(4, 0f, 1f, 1)),
        };
        IllegalStateException e = assertThrows(IllegalStateException.class,
            () -> loop.submit(poisoned, BadRowPolicy.ROW_ERROR, RowLabels.positions(0), null, () -> false));
        assertTrue(e.getMessage().contains("CUDA_ERROR_LAUNCH_FAILED (719)"), e.getMessage());
        assertTrue(e.getMessage().startsWith("generate on the shared decode loop fake:0 m.bin failed"), e.getMessage());
        assertSameRows(alone(rows(5, 4)), loop.submit(rows(5, 4), BadRowPolicy.ROW_ERROR, RowLabels.positions(0), null,
            () -> false), "after the error");
    }

    @Test
    void closeFailsWhatIsQueuedAndClosesTheBackend() throws Exception {
        FakeDevice device = new FakeDevice(2, 2 + 2);
        device.gate = new CountDownLatch(1);
        SharedDecodeLoop loop = loop(device, 2);
        Future<GenerationScheduler.Result[]> waiting = pool.submit(() -> loop.submit(rows(6, 3), BadRowPolicy.ROW_ERROR,
            RowLabels.positions(0), null, () -> false));
        while (loop.stats().submissions() < 1) {
            Thread.sleep(5);
        }
        Thread closer = new Thread(loop::close);
        closer.start();
        // Release the step only once close() has marked the loop closed: else a slow closer thread lets the loop finish
        // every row first, and nothing is left to fail.
        while (!loop.isClosed()) {
            Thread.sleep(1);
        }
        device.gate.countDown();
        closer.join(10_000);
        ExecutionException e = assertThrows(ExecutionException.class, () -> waiting.get(30, TimeUnit.SECONDS));
        assertTrue(e.getCause().getMessage().contains("is closed"), e.getCause().getMessage());
        assertTrue(device.closed.get());
        assertTrue(loop.isClosed());
        assertThrows(IllegalStateException.class, () -> loop.submit(rows(7, 2), BadRowPolicy.ROW_ERROR,
            RowLabels.positions(0), null, () -> false));
    }

    @Test
    void promptsComeAsBytesNotAddresses() {
        SharedDecodeLoop loop = loop(new FakeDevice(2, 4), 2);
        assertTrue(!loop.client(BadRowPolicy.ROW_ERROR).readsOffHeap());
        GenerationScheduler.Request[] offHeap = {GenerationScheduler.Request.offHeap(1234L, 3, new GenerationParams(2, 0f, 1f, 1))};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
            () -> loop.submit(offHeap, BadRowPolicy.ROW_ERROR, RowLabels.positions(0), null, () -> false));
        assertEquals("request 0: the shared decode loop takes prompts as bytes, not off-heap addresses", e.getMessage());
    }
}
