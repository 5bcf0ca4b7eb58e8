package org.sparknative.udf.integrate;

import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BitVectorHelper;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.sparknative.kernels.cuda.CudaIntegrate;
import org.sparknative.kernels.integrate.IntegrateKernels;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;

/**
 * The vectorized {@code integrate_f}: Arrow vectors {@code a, b} (float64) and {@code n} (int32) in, a
 * float64 vector {@code x} out, computed by the native kernel straight from the vectors' data buffers.
 * The kernel reads {@code a}, {@code b}, {@code n} where Arrow stored them and writes into {@code x}'s
 * data buffer: no copy crosses the Java/C boundary.
 *
 * <p>{@code x[i] = dx * sum_{k<n} f(a + k*dx)}, {@code dx = (b-a)/n}, {@code f(x) = x(x-1)} (the left
 * Riemann sum of the pandas {@code integrate_f} benchmark).
 *
 * <p>Nulls: a row with any null input is null in {@code x}. Invalid rows ({@code n <= 0}, non-finite
 * {@code a} or {@code b}) are validated here, in Java, before the kernel sees a pointer, and handled by
 * the {@link BadRowPolicy}: under {@code fail} an {@link InvalidRowException} naming the row by its id
 * ({@link RowLabels}) and the field; under {@code row-error} a null counted in {@link Result#invalidRows()}.
 *
 * <p>Backends: the C kernel on the calling thread ({@code cpu}), or a task's {@link CudaIntegrate}
 * ({@code cuda}), which copies the same buffers to the GPU from their addresses and {@code x} back into
 * the output vector's data buffer. Both give the same bits for a row (the GPU kernel sums the CPU kernel's
 * 16 lanes in the same order, without FMA). Validation is the same for both and happens here, first.
 *
 * <p>Each call counts its rows and the kernel call's time in {@link ExecutorMetrics}.
 *
 * <p>Threading: stateless; any number of tasks may call it at once with their own vectors.
 */
public final class IntegrateUdf {
    private IntegrateUdf() {
    }

    /**
     * The output vector and how many rows were nulled as invalid. The caller owns {@code x} and must
     * close it.
     *
     * @param x           the result, same length as the inputs
     * @param invalidRows rows nulled under {@link BadRowPolicy#ROW_ERROR} (always 0 under {@code fail})
     */
    public record Result(Float8Vector x, int invalidRows) {
    }

    /**
     * Computes {@code x} for every row of the batch.
     *
     * @param a         lower bounds, float64
     * @param b         upper bounds, float64
     * @param n         interval counts, int32
     * @param allocator allocates {@code x} (the caller owns and closes it)
     * @param policy    what to do with invalid rows: {@link BadRowPolicy#FAIL} or {@link BadRowPolicy#ROW_ERROR}
     * @param rows      names the batch's rows in error messages
     * @throws IllegalArgumentException if the vectors' lengths differ, or for a policy {@code --invalid-rows} does not take
     * @throws InvalidRowException      under {@link BadRowPolicy#FAIL} for the first invalid row
     */
    public static Result apply(Float8Vector a, Float8Vector b, IntVector n, BufferAllocator allocator,
                               BadRowPolicy policy, RowLabels rows) {
        return apply(a, b, n, allocator, policy, rows, null);
    }

    /**
     * As {@link #apply(Float8Vector, Float8Vector, IntVector, BufferAllocator, BadRowPolicy, RowLabels)}, on
     * the GPU when {@code gpu} is given.
     *
     * @param gpu the task's CUDA integrator, or null for the CPU kernel
     * @throws org.sparknative.kernels.cuda.CudaException if a CUDA call fails
     */
    public static Result apply(Float8Vector a, Float8Vector b, IntVector n, BufferAllocator allocator,
                               BadRowPolicy policy, RowLabels rows, CudaIntegrate gpu) {
        BadRowPolicy.INVALID_ROWS.check(policy);
        int count = a.getValueCount();
        if (b.getValueCount() != count || n.getValueCount() != count) {
            throw new IllegalArgumentException("integrate_f: vectors a, b, n must have the same length, got "
                + count + ", " + b.getValueCount() + ", " + n.getValueCount());
        }
        Float8Vector x = new Float8Vector("x", allocator);
        try {
            x.allocateNew(Math.max(count, 1));
            ArrowBuf validity = x.getValidityBuffer();
            long validityBytes = (count + 7) / 8;
            validity.setOne(0L, validityBytes);
            boolean anyNull = a.getNullCount() + b.getNullCount() + n.getNullCount() > 0;
            int invalid = 0;
            boolean masked = anyNull;
            ArrowBuf ad = a.getDataBuffer();
            ArrowBuf bd = b.getDataBuffer();
            ArrowBuf nd = n.getDataBuffer();
            for (int i = 0; i < count; i++) {
                if (anyNull && (a.isNull(i) || b.isNull(i) || n.isNull(i))) {
                    BitVectorHelper.unsetBit(validity, i);
                    continue;
                }
                double av = ad.getDouble((long) i * Float8Vector.TYPE_WIDTH);
                double bv = bd.getDouble((long) i * Float8Vector.TYPE_WIDTH);
                int nv = nd.getInt((long) i * IntVector.TYPE_WIDTH);
                String problem = IntegrateValidation.problem(av, bv, nv);
                if (problem != null) {
                    if (policy == BadRowPolicy.FAIL) {
                        String row = rows.label(i);
                        throw new InvalidRowException(row, "integrate_f: " + row + ": " + problem);
                    }
                    BitVectorHelper.unsetBit(validity, i);
                    invalid++;
                    masked = true;
                }
            }
            if (count > 0) {
                long t0 = System.nanoTime();
                if (gpu == null) {
                    IntegrateKernels.integrateBatch(ad.memoryAddress(), bd.memoryAddress(), nd.memoryAddress(),
                        x.getDataBuffer().memoryAddress(), count, masked ? validity.memoryAddress() : 0L);
                } else {
                    gpu.integrate(ad.memoryAddress(), bd.memoryAddress(), nd.memoryAddress(),
                        x.getDataBuffer().memoryAddress(), count, masked ? validity.memoryAddress() : 0L);
                }
                ExecutorMetrics.nativeCallSince(t0);
                ExecutorMetrics.integrateRows(count);
            }
            x.setValueCount(count);
            return new Result(x, invalid);
        } catch (RuntimeException | Error e) {
            x.close();
            throw e;
        }
    }
}
