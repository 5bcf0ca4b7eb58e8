package org.sparknative.kernels.llama;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the real models in the shared directory (system property {@code sparknative.shared.models.dir}). */
final class SharedModels {
    static final String STORIES_260K = "stories260K.bin";
    static final String TOK_512 = "tok512.bin";
    static final String LLAMA2_TOKENIZER = "tokenizer.bin";

    private SharedModels() {
    }

    /** @return the path of {@code name}, or aborts the calling test (skipped) if it is not there */
    static Path require(String name) {
        String dir = System.getProperty("sparknative.shared.models.dir");
        assumeTrue(dir != null && !dir.isBlank(), "sparknative.shared.models.dir is not set");
        Path p = Path.of(dir).resolve(name);
        assumeTrue(Files.isRegularFile(p), () -> "model file absent: " + p);
        return p;
    }
}
