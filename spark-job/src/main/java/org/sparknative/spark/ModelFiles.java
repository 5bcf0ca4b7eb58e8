package org.sparknative.spark;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import org.apache.spark.SparkFiles;
import org.sparknative.kernels.llama.CheckpointException;
import org.sparknative.udf.generate.ModelRegistry;

/**
 * Resolves a model or tokenizer file as the user named it to a local file on this executor: a path that
 * exists here is used as is; otherwise the file of that name shipped with {@code spark-submit --files}
 * (found through {@link SparkFiles}); otherwise a {@link CheckpointException} that says where models come
 * from.
 *
 * <p>Threading: stateless.
 */
public final class ModelFiles {
    private ModelFiles() {
    }

    /**
     * @param path as given by the user
     * @param what {@code model} or {@code tokenizer}, for the message
     * @return the local file
     * @throws CheckpointException if neither the path nor a shipped file of its name exists
     */
    public static Path resolve(String path, String what) {
        Path p = Path.of(path);
        if (Files.isRegularFile(p)) {
            return p;
        }
        try {
            String shipped = SparkFiles.get(new File(path).getName());
            if (shipped != null && Files.isRegularFile(Path.of(shipped))) {
                return Path.of(shipped);
            }
        } catch (RuntimeException | LinkageError e) {
            // no SparkContext here (tests, the benchmark harness): only the plain path counts
        }
        ModelRegistry.requireFile(p, what);
        return p;
    }
}
