package org.sparknative.udf.generate;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CancellationException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;

/**
 * One continuous-batching decode loop shared by every task of an executor that generates with one model
 * on one device: a daemon thread that owns a {@link DecodeBackend} (its KV cache and slots) and takes
 * requests from all concurrent tasks, so the batch on the device is the executor's, not one task's, and
 * the weights behind the backend exist once. The scheduling is {@link DecodeSlots}, the same core as the
 * per-task {@link ContinuousBatcher}.
 *
 * <p>Submissions: a task calls {@link #submit} (or {@link #client}{@code .run}) with its rows and blocks
 * until they are done; it gets its own results back, in its request order. Admission is FIFO across
 * submissions: a free slot takes the next request of the oldest submission that has one left. A row's
 * text does not depend on what shares its step as long as the backend is batch-invariant (the CPU kernel
 * and the CUDA {@code INVARIANT} matmul are), so the executor's mix of tasks never changes an output.
 *
 * <p>Isolation: progress callbacks run on the submitting thread. A submission that fails on its own
 * ({@link InvalidRowException} under {@code --long-prompts fail}) or is cancelled (its task killed) loses
 * only its own sequences; the others go on. If the backend throws during a step, every submission with a
 * sequence in that step fails with the backend's error; queued submissions and later ones still run,
 * since the loop frees the failed sequences' slots and goes on.
 *
 * <p>Prompts: the loop tokenizes on its own thread, possibly after a cancelled submitter has returned, so
 * it takes prompts as bytes only ({@link #readsOffHeap()} is false on its clients).
 *
 * <p>Lifetime: the loop lives as long as its executor; {@link #close()} (executor shutdown) fails what is
 * still queued, stops the thread and closes the backend, freeing its memory. Threading: {@link #submit},
 * {@link #stats} and {@link #close} are thread-safe.
 */
public final class SharedDecodeLoop implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(SharedDecodeLoop.class);
    private static final long POLL_MS = 50;

    /**
     * What the loop has done since it started.
     *
     * @param steps                forward passes run
     * @param rows                 rows those steps held (decode and prefill)
     * @param submissions          submissions received
     * @param maxSubmittersPerStep the most distinct submissions that shared one step
     * @param slots                the loop's slots (sequences decoded together)
     */
    public record Stats(long steps, long rows, long submissions, int maxSubmittersPerStep, int slots) {
    }

    /** One task's rows and where its results go. */
    private static final class Submission {
        final GenerationScheduler.Request[] requests;
        final BadRowPolicy longPrompts;
        final RowLabels labels;
        final LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
        int next;           // next request to admit (loop thread)
        int remaining;      // requests without a result yet (loop thread)
        volatile boolean cancelled;

        Submission(GenerationScheduler.Request[] requests, BadRowPolicy longPrompts, RowLabels labels) {
            this.requests = requests;
            this.longPrompts = longPrompts;
            this.labels = labels;
            this.remaining = requests.length;
        }
    }

    private record Finished(int request, GenerationScheduler.Result result) {
    }

    private record Failed(RuntimeException error) {
    }

    private static final Object DONE = new Object();

    private final String name;
    private final DecodeSlots core;
    private final Thread thread;
    private final Object lock = new Object();
    private final ArrayDeque<Submission> arrivals = new ArrayDeque<>(); // guarded by lock
    private final List<Submission> open = new ArrayList<>();            // loop thread only
    private boolean closed;                                             // guarded by lock
    private volatile long steps;
    private volatile long rows;
    private volatile long submissions;
    private volatile int maxSubmittersPerStep;

    /**
     * Starts the loop's thread. The loop owns {@code backend} from now on and closes it in {@link #close()}.
     *
     * @param name                 names the thread and log lines, such as {@code cuda:0 stories15M.bin}
     * @param prefillTokensPerStep prompt tokens per step, {@code >= 1}; the backend must take
     *                             {@code maxSlots + prefillTokensPerStep} rows
     * @throws IllegalArgumentException for a tokenizer of another vocabulary than the model's, or a bad setting
     */
    public SharedDecodeLoop(String name, DecodeBackend backend, TokenCodec codec, int prefillTokensPerStep) {
        this.name = Objects.requireNonNull(name, "name");
        this.core = new DecodeSlots(backend, codec, prefillTokensPerStep);
        this.thread = new Thread(this::loop, "sn-decode-loop " + name);
        thread.setDaemon(true);
        thread.start();
    }

    /** @return the loop's name */
    public String name() {
        return name;
    }

    /** @return the backend the loop drives */
    public DecodeBackend backend() {
        return core.backend();
    }

    /**
     * Generates a completion for every request on the shared loop and waits for them.
     *
     * @param requests    the task's rows; prompts as bytes ({@link GenerationScheduler.Request#of}) or error rows
     * @param longPrompts what a prompt longer than the context does, for this submission
     * @param labels      names the requests in error messages
     * @param progress    told about each of this submission's finished rows, on the calling thread; may be null
     * @param cancelled   polled while waiting; once true the submission's sequences are dropped
     * @return the results, in request order
     * @throws InvalidRowException   under {@link BadRowPolicy#FAIL}, for this submission's too-long prompt
     * @throws CancellationException once {@code cancelled} says so or the waiting thread is interrupted
     * @throws IllegalStateException if the loop is closed, or the backend failed during a step that held
     *                               this submission's rows (the cause is the backend's error)
     * @throws IllegalArgumentException for an off-heap request
     */
    public GenerationScheduler.Result[] submit(GenerationScheduler.Request[] requests, BadRowPolicy longPrompts,
                                               RowLabels labels, GenerationScheduler.Progress progress,
                                               BooleanSupplier cancelled) {
        BadRowPolicy.LONG_PROMPTS.check(longPrompts);
        for (int i = 0; i < requests.length; i++) {
            GenerationScheduler.Request q = requests[i];
            if (q.error() == null && q.utf8() == null) {
                throw new IllegalArgumentException("request " + i + ": the shared decode loop takes prompts as bytes, "
                    + "not off-heap addresses");
            }
        }
        GenerationScheduler.Result[] results = new GenerationScheduler.Result[requests.length];
        if (requests.length == 0) {
            return results;
        }
        Submission sub = new Submission(requests, longPrompts, labels);
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("the shared decode loop " + name + " is closed");
            }
            arrivals.add(sub);
            submissions++;
            lock.notifyAll();
        }
        while (true) {
            if (cancelled.getAsBoolean()) {
                cancel(sub);
                throw new CancellationException("generate cancelled while waiting on the shared decode loop " + name);
            }
            Object event;
            try {
                event = sub.events.poll(POLL_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                cancel(sub);
                Thread.currentThread().interrupt();
                throw new CancellationException("generate interrupted while waiting on the shared decode loop " + name);
            }
            if (event == null) {
                continue;
            }
            if (event instanceof Finished f) {
                results[f.request()] = f.result();
                if (progress != null) {
                    progress.finished(f.result());
                }
            } else if (event == DONE) {
                return results;
            } else if (event instanceof Failed failed) {
                throw failed.error();
            }
        }
    }

    private void cancel(Submission sub) {
        sub.cancelled = true;
        synchronized (lock) {
            lock.notifyAll();
        }
    }

    /**
     * @param longPrompts what a prompt longer than the context does ({@code --long-prompts})
     * @return one task's view of the loop, behind the same seam as a per-task {@link ContinuousBatcher}
     */
    public GenerationScheduler client(BadRowPolicy longPrompts) {
        BadRowPolicy.LONG_PROMPTS.check(longPrompts);
        return new GenerationScheduler() {
            private BooleanSupplier cancelled = () -> false;

            @Override
            public Result[] run(Request[] requests, RowLabels labels, Progress progress) {
                return submit(requests, longPrompts, labels, progress, cancelled);
            }

            @Override
            public boolean readsOffHeap() {
                return false;
            }

            @Override
            public GenerationScheduler cancelWhen(BooleanSupplier cancelled) {
                this.cancelled = Objects.requireNonNull(cancelled, "cancelled");
                return this;
            }
        };
    }

    /** @return the loop's counters so far */
    public Stats stats() {
        return new Stats(steps, rows, submissions, maxSubmittersPerStep, core.maxSlots());
    }

    // ---- the loop thread ----------------------------------------------------------------------------

    private void loop() {
        try {
            while (true) {
                synchronized (lock) {
                    while (!closed && arrivals.isEmpty() && !anyWork()) {
                        lock.wait();
                    }
                    if (closed) {
                        break;
                    }
                    while (!arrivals.isEmpty()) {
                        open.add(arrivals.poll());
                    }
                }
                dropCancelled();
                admit();
                if (core.active() == 0) {
                    continue;
                }
                int owners = core.owners();
                try {
                    int n = core.step(this::finished);
                    steps++;
                    rows += n;
                    if (owners > maxSubmittersPerStep) {
                        maxSubmittersPerStep = owners;
                    }
                } catch (RuntimeException e) {
                    failInFlight(e);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException | Error e) {
            LOG.error("shared decode loop {} stopped", name, e);
            failAll(new IllegalStateException("the shared decode loop " + name + " stopped: " + e, e));
            synchronized (lock) {
                closed = true;
            }
            throw e;
        }
        failAll(new IllegalStateException("the shared decode loop " + name + " is closed"));
    }

    /** Whether an open submission still has something for the loop (a request or a cancellation to process). */
    private boolean anyWork() {
        if (core.active() > 0) {
            return true;
        }
        for (Submission s : open) {
            if (s.next < s.requests.length || s.cancelled) {
                return true;
            }
        }
        return false;
    }

    private void dropCancelled() {
        for (Iterator<Submission> it = open.iterator(); it.hasNext(); ) {
            Submission s = it.next();
            if (s.cancelled) {
                core.evict(s);
                it.remove();
            }
        }
    }

    private void admit() {
        for (Iterator<Submission> it = open.iterator(); it.hasNext() && core.hasFreeSlot(); ) {
            Submission s = it.next();
            try {
                while (s.next < s.requests.length && core.hasFreeSlot()) {
                    int r = s.next++;
                    DecodeSlots.Prepared p = core.prepare(s.requests[r], r, s.longPrompts, s.labels);
                    if (p.done() != null) {
                        deliver(s, r, p.done());
                    } else {
                        p.seq().owner = s;
                        core.admit(p.seq());
                    }
                }
            } catch (RuntimeException e) {
                // This submission's own failure (a too-long prompt under --long-prompts fail): only its rows go.
                core.evict(s);
                s.events.add(new Failed(e));
                it.remove();
                continue;
            }
            if (s.remaining == 0) {
                it.remove();
            }
        }
    }

    private void finished(DecodeSlots.Seq q, GenerationScheduler.Result result) {
        Submission s = (Submission) q.owner;
        deliver(s, q.request, result);
        if (s.remaining == 0) {
            open.remove(s);
        }
    }

    private void deliver(Submission s, int r, GenerationScheduler.Result result) {
        ExecutorMetrics.generateRow(result.promptTokens(), result.completionTokens());
        s.events.add(new Finished(r, result));
        if (--s.remaining == 0) {
            s.events.add(DONE);
        }
    }

    private void failInFlight(RuntimeException e) {
        LOG.warn("shared decode loop {}: a step failed; its submissions fail, the loop goes on: {}", name, e.toString());
        for (Iterator<Submission> it = open.iterator(); it.hasNext(); ) {
            Submission s = it.next();
            if (core.holds(s)) {
                core.evict(s);
                s.events.add(new Failed(new IllegalStateException("generate on the shared decode loop " + name
                    + " failed: " + e.getMessage(), e)));
                it.remove();
            }
        }
        core.evict(null);
    }

    private void failAll(RuntimeException e) {
        List<Submission> all = new ArrayList<>(open);
        open.clear();
        synchronized (lock) {
            all.addAll(arrivals);
            arrivals.clear();
        }
        core.evict(null);
        for (Submission s : all) {
            s.events.add(new Failed(e));
        }
    }

    /**
     * Fails what is still queued or running, stops the loop's thread (waiting for a step in progress to
     * end) and closes the backend. Idempotent.
     */
    @Override
    public void close() {
        synchronized (lock) {
            if (closed && !thread.isAlive()) {
                return;
            }
            closed = true;
            lock.notifyAll();
        }
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        core.backend().close();
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    /** @return whether {@link #close()} was called or the loop stopped */
    public boolean isClosed() {
        synchronized (lock) {
            return closed;
        }
    }

    @Override
    public String toString() {
        return "SharedDecodeLoop[" + name + ", " + core.maxSlots() + " slots]";
    }
}
