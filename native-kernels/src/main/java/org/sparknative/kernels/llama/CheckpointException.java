package org.sparknative.kernels.llama;

import java.nio.file.Path;

/**
 * A checkpoint or tokenizer file that cannot be used: the message names the file, the field and what
 * was expected against what was found.
 */
public class CheckpointException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public CheckpointException(Path file, String message) {
        super(file + ": " + message);
    }

    /** @param location a file name or URI (a model on a remote filesystem) */
    public CheckpointException(String location, String message) {
        super(location + ": " + message);
    }

    /** @param location a file name or URI (a model on a remote filesystem) */
    public CheckpointException(String location, String message, Throwable cause) {
        super(location + ": " + message, cause);
    }

    public CheckpointException(Path file, String message, Throwable cause) {
        super(file + ": " + message, cause);
    }
}
