package org.sparknative.udf;

import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.memory.BufferAllocator;
import org.apache.arrow.vector.BitVectorHelper;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.sparknative.kernels.IntegrationKernels;

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
 * the {@link InvalidRowPolicy}: an {@link InvalidRowException} naming the row, or a null counted in
 * {@link Result#invalidRows()}.
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
     * @param invalidRows rows nulled by {@link InvalidRowPolicy#NULL} (always 0 under ERROR)
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
     * @param policy    what to do with invalid rows
     * @param firstRow  the index of row 0 in the caller's numbering, used in error messages
     * @throws IllegalArgumentException if the vectors' lengths differ
     * @throws InvalidRowException      under {@link InvalidRowPolicy#ERROR} for the first invalid row
     */
    public static Result apply(Float8Vector a, Float8Vector b, IntVector n, BufferAllocator allocator,
                               InvalidRowPolicy policy, long firstRow) {
        int rows = a.getValueCount();
        if (b.getValueCount() != rows || n.getValueCount() != rows) {
            throw new IllegalArgumentException("integrate_f: vectors a, b, n must have the same length, got "
                + rows + ", " + b.getValueCount() + ", " + n.getValueCount());
        }
        Float8Vector x = new Float8Vector("x", allocator);
        try {
            x.allocateNew(Math.max(rows, 1));
            ArrowBuf validity = x.getValidityBuffer();
            int validityBytes = (rows + 7) / 8;
            validity.setOne(0L, validityBytes);
            boolean anyNull = a.getNullCount() + b.getNullCount() + n.getNullCount() > 0;
            int invalid = 0;
            boolean masked = anyNull;
            ArrowBuf ad = a.getDataBuffer();
            ArrowBuf bd = b.getDataBuffer();
            ArrowBuf nd = n.getDataBuffer();
            for (int i = 0; i < rows; i++) {
                if (anyNull && (a.isNull(i) || b.isNull(i) || n.isNull(i))) {
                    BitVectorHelper.unsetBit(validity, i);
                    continue;
                }
                double av = ad.getDouble((long) i * Float8Vector.TYPE_WIDTH);
                double bv = bd.getDouble((long) i * Float8Vector.TYPE_WIDTH);
                int nv = nd.getInt((long) i * IntVector.TYPE_WIDTH);
                String problem = IntegrateValidation.problem(av, bv, nv);
                if (problem != null) {
                    if (policy == InvalidRowPolicy.ERROR) {
                        throw new InvalidRowException(firstRow + i, "integrate_f: row " + (firstRow + i) + ": " + problem);
                    }
                    BitVectorHelper.unsetBit(validity, i);
                    invalid++;
                    masked = true;
                }
            }
            if (rows > 0) {
                IntegrationKernels.integrateBatch(ad.memoryAddress(), bd.memoryAddress(), nd.memoryAddress(),
                    x.getDataBuffer().memoryAddress(), rows, masked ? validity.memoryAddress() : 0L);
            }
            x.setValueCount(rows);
            return new Result(x, invalid);
        } catch (RuntimeException | Error e) {
            x.close();
            throw e;
        }
    }
}
