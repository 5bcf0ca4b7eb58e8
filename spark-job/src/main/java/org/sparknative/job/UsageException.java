package org.sparknative.job;

/**
 * A command line that is well formed but asks for something that cannot be done as given (a negative
 * row count, an output folder that is the input): the launcher prints its message and exits 2, as for
 * any other bad usage, before anything is read, written or deleted.
 */
final class UsageException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    UsageException(String message) {
        super(message);
    }
}
