package org.sparknative.kernels.gguf;

import java.nio.file.Path;
import org.sparknative.kernels.llama.CheckpointException;

/**
 * A GGUF file that cannot be used, or a metadata key or tensor that is missing or of the wrong type. The message
 * names the file, then what is wrong (the key, the tensor, the header field) with what was expected against what was
 * found. A {@link CheckpointException}, so that callers that open any model format catch one type.
 */
public class GgufException extends CheckpointException {
    private static final long serialVersionUID = 1L;

    /**
     * @param file    the GGUF file
     * @param message what is wrong, naming the key or tensor and expected vs actual
     */
    public GgufException(Path file, String message) {
        super(file, message);
    }

    /**
     * @param location the GGUF file's name or URI
     * @param message  what is wrong, naming the key or tensor and expected vs actual
     */
    public GgufException(String location, String message) {
        super(location, message);
    }

    /**
     * @param location the GGUF file's name or URI
     * @param message  what is wrong
     * @param cause    the I/O error behind it
     */
    public GgufException(String location, String message, Throwable cause) {
        super(location, message, cause);
    }

    /**
     * @param file    the GGUF file
     * @param message what is wrong
     * @param cause   the I/O error behind it
     */
    public GgufException(Path file, String message, Throwable cause) {
        super(file, message, cause);
    }
}
