package org.sparknative.spark.sql;

import org.apache.arrow.memory.ArrowBuf;
import org.apache.arrow.vector.BaseFixedWidthVector;
import org.apache.arrow.vector.BitVectorHelper;
import org.apache.arrow.vector.Float8Vector;
import org.apache.arrow.vector.IntVector;
import org.apache.spark.sql.execution.vectorized.OffHeapColumnVector;
import org.apache.spark.sql.vectorized.ColumnVector;
import org.apache.spark.unsafe.Platform;

/**
 * Bulk copies from Spark's column vectors into Arrow vectors: one memory copy per column and batch (from
 * the off-heap address where the vector's layout already is Arrow's, plain little-endian values), else one
 * bulk read of the values; validity from the vector's null flags only where it has nulls. Never a per-row
 * {@code InternalRow} walk.
 */
final class ColumnCopy {
    private ColumnCopy() {
    }

    /** Copies rows {@code [0, rows)} of a DOUBLE column into {@code dst} (allocated for at least {@code rows}). */
    static void doubles(ColumnVector src, int rows, Float8Vector dst) {
        long bytes = (long) rows * Float8Vector.TYPE_WIDTH;
        long to = dst.getDataBuffer().memoryAddress();
        long from = offHeapValues(src);
        if (from != 0) {
            Platform.copyMemory(null, from, null, to, bytes);
        } else {
            Platform.copyMemory(src.getDoubles(0, rows), Platform.DOUBLE_ARRAY_OFFSET, null, to, bytes);
        }
        validity(src, rows, dst);
    }

    /** Copies rows {@code [0, rows)} of an INT column into {@code dst}. */
    static void ints(ColumnVector src, int rows, IntVector dst) {
        long bytes = (long) rows * IntVector.TYPE_WIDTH;
        long to = dst.getDataBuffer().memoryAddress();
        long from = offHeapValues(src);
        if (from != 0) {
            Platform.copyMemory(null, from, null, to, bytes);
        } else {
            Platform.copyMemory(src.getInts(0, rows), Platform.INT_ARRAY_OFFSET, null, to, bytes);
        }
        validity(src, rows, dst);
    }

    /** Fills rows {@code [0, rows)} of {@code dst} with {@code value}, all valid. */
    static void fill(Float8Vector dst, int rows, double value) {
        for (int i = 0; i < rows; i++) {
            dst.set(i, value);
        }
    }

    /** Fills rows {@code [0, rows)} of {@code dst} with {@code value}, all valid. */
    static void fill(IntVector dst, int rows, int value) {
        for (int i = 0; i < rows; i++) {
            dst.set(i, value);
        }
    }

    /** Marks rows {@code [0, rows)} of {@code dst} valid, then the source's nulls null. */
    private static void validity(ColumnVector src, int rows, BaseFixedWidthVector dst) {
        ArrowBuf valid = dst.getValidityBuffer();
        valid.setOne(0L, (rows + 7) / 8);
        if (src.hasNull()) {
            for (int i = 0; i < rows; i++) {
                if (src.isNullAt(i)) {
                    BitVectorHelper.unsetBit(valid, i);
                }
            }
        }
    }

    /** @return the address of an off-heap vector's plain values, or 0 (on-heap, dictionary-encoded, or another kind) */
    private static long offHeapValues(ColumnVector v) {
        if (v instanceof OffHeapColumnVector o && !o.hasDictionary()) {
            return o.valuesNativeAddress();
        }
        return 0L;
    }
}
