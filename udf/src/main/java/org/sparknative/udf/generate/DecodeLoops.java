package org.sparknative.udf.generate;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.kernels.cuda.CudaDevice;
import org.sparknative.kernels.cuda.CudaLlamaModel;
import org.sparknative.kernels.cuda.MatmulMode;
import org.sparknative.udf.ExecutorMetrics;

/**
 * The executor's CUDA generation state: each model's weights uploaded once per device
 * ({@link CudaLlamaModel}), and one {@link SharedDecodeLoop} per model, device and loop shape (slots,
 * prefill budget, matmul mode) that every task of the executor on that device feeds. A job uses one shape,
 * so in practice there is one loop per GPU; two jobs with different shapes share the weights but not the
 * loop.
 *
 * <p>Lifetime: as long as the executor JVM. A shutdown hook, registered with the first loop, closes the
 * loops (failing what is still queued and freeing their KV caches) and then the weights. {@link #closeAll()}
 * does the same at once (tests, the benchmark).
 *
 * <p>Threading: thread-safe. The first task to ask uploads and allocates while the others wait; the rest
 * reuse.
 */
public final class DecodeLoops {
    private static final Logger LOG = LoggerFactory.getLogger(DecodeLoops.class);

    private record WeightsKey(ModelRegistry.Entry model, int device) {
    }

    private record LoopKey(ModelRegistry.Entry model, int device, int slots, int prefill, MatmulMode mode) {
    }

    private static final Map<WeightsKey, CudaLlamaModel> WEIGHTS = new ConcurrentHashMap<>();
    private static final Map<LoopKey, SharedDecodeLoop> LOOPS = new ConcurrentHashMap<>();
    private static final Object LOCK = new Object();
    private static boolean hooked; // guarded by LOCK

    private DecodeLoops() {
    }

    /**
     * @return the executor's shared loop for this model on {@code device} with the spec's slots, prefill
     *         budget and matmul mode, uploading the weights and allocating the KV cache on first use
     * @throws org.sparknative.kernels.cuda.CudaException if the device cannot hold the weights and one slot,
     *                                                    or for any other CUDA error (the next task tries again)
     */
    public static SharedDecodeLoop cuda(ModelRegistry.Entry model, CudaDevice device, GenerationSpec spec) {
        LoopKey key = new LoopKey(model, device.ordinal(), spec.slots(), spec.prefillTokensPerStep(), spec.matmul());
        SharedDecodeLoop loop = LOOPS.get(key);
        if (loop != null && !loop.isClosed()) {
            return loop;
        }
        synchronized (LOCK) {
            loop = LOOPS.get(key);
            if (loop != null && !loop.isClosed()) {
                return loop;
            }
            if (!hooked) {
                Runtime.getRuntime().addShutdownHook(new Thread(DecodeLoops::closeAll, "sn-decode-loops-shutdown"));
                hooked = true;
            }
            String name = device.toString() + " " + model.model().path().getFileName();
            CudaLlamaModel weights = WEIGHTS.computeIfAbsent(new WeightsKey(model, device.ordinal()), k -> {
                CudaLlamaModel w = CudaLlamaModel.upload(device, model.nativeModel());
                ExecutorMetrics.deviceWeightsUploaded();
                LOG.info("{}: uploaded {} MiB of weights", name, w.deviceBytes() >> 20);
                return w;
            });
            CudaBackend backend = CudaBackend.open(weights, spec.slots(), spec.prefillTokensPerStep(), spec.matmul(), name);
            try {
                loop = new SharedDecodeLoop(name, backend, new NativeTokenCodec(model.nativeTokenizer()),
                    spec.prefillTokensPerStep());
            } catch (RuntimeException | Error e) {
                backend.close();
                throw e;
            }
            LOG.info("{}: shared decode loop with {} slots, {} matmul", name, backend.maxSlots(), spec.matmul().label());
            LOOPS.put(key, loop);
            return loop;
        }
    }

    /** @return the counters of every open loop of this JVM */
    public static List<SharedDecodeLoop.Stats> stats() {
        List<SharedDecodeLoop.Stats> out = new ArrayList<>();
        for (SharedDecodeLoop l : LOOPS.values()) {
            if (!l.isClosed()) {
                out.add(l.stats());
            }
        }
        return out;
    }

    /** Closes every loop, then every uploaded model; the next {@link #cuda} call starts afresh. */
    public static void closeAll() {
        synchronized (LOCK) {
            for (SharedDecodeLoop l : LOOPS.values()) {
                try {
                    l.close();
                } catch (RuntimeException e) {
                    LOG.warn("closing {} failed: {}", l, e.toString());
                }
            }
            LOOPS.clear();
            for (CudaLlamaModel w : WEIGHTS.values()) {
                try {
                    w.close();
                } catch (RuntimeException e) {
                    LOG.warn("freeing the weights on {} failed: {}", w.device(), e.toString());
                }
            }
            WEIGHTS.clear();
        }
    }
}
