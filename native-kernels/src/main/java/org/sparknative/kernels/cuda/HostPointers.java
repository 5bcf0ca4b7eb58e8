package org.sparknative.kernels.cuda;

import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * JavaCPP pointers at raw addresses: off-heap host memory (an Arrow buffer, a native batch) for the copy
 * calls, and device addresses where a binding types them as pointers (cuBLAS matrices). The pointer
 * owns nothing: the caller keeps the memory alive for the duration of the call.
 */
public final class HostPointers {
    private HostPointers() {
    }

    /** @return an untyped pointer at {@code address}, which must not be 0 */
    public static Pointer at(long address) {
        requireNonZero(address);
        return new Pointer() {
            {
                this.address = address;
            }
        };
    }

    /** @return a float pointer at {@code address}, which must not be 0 */
    public static FloatPointer floats(long address) {
        requireNonZero(address);
        return new FloatPointer() {
            {
                this.address = address;
            }
        };
    }

    private static void requireNonZero(long address) {
        if (address == 0) {
            throw new IllegalArgumentException("null address");
        }
    }
}
