package org.sparknative.kernels;

/**
 * The status codes the C kernels return, mirroring {@code sn_status.h} (the same names without the
 * {@code SN_} prefix, the same values): 0 is success, errors are negative.
 *
 * <p>The tokenizer's own codes ({@code SN_TOK_*} in {@code sn_tokenizer.h}) are not among these; see
 * {@code LlamaKernels.TOK_ERR_*}.
 */
public enum NativeStatus {
    OK(0, "success"),
    ERR_OPEN(-1, "open() failed"),
    ERR_STAT(-2, "fstat() failed"),
    ERR_LENGTH(-3, "the file length differs from the expected length"),
    ERR_MMAP(-4, "mmap() failed"),
    ERR_NOMEM(-5, "a native allocation failed"),
    ERR_CONFIG(-6, "inconsistent model shape, or a tensor outside the file"),
    ERR_ARG(-7, "an argument out of range");

    private final int code;
    private final String message;

    NativeStatus(int code, String message) {
        this.code = code;
        this.message = message;
    }

    /** @return the value the C side returns */
    public int code() {
        return code;
    }

    /** @return what the code means, in words */
    public String message() {
        return message;
    }

    /**
     * @return the status with value {@code code}
     * @throws IllegalArgumentException if no status has that value (a C function returned something outside
     *                                  {@code sn_status.h})
     */
    public static NativeStatus of(int code) {
        for (NativeStatus s : values()) {
            if (s.code == code) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown native status code " + code);
    }

    /** @return {@code NAME (code): message}, for error messages */
    public String describe() {
        return name() + " (" + code + "): " + message;
    }
}
