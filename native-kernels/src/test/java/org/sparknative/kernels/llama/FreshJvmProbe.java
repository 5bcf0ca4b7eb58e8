package org.sparknative.kernels.llama;

import java.nio.file.Path;
import org.sparknative.kernels.NativeLibrary;

/** Run in a fresh JVM by {@link NativeLlamaValidationTest#loadsInAFreshJvm()}: load, then one 2-thread step. */
public final class FreshJvmProbe {
    private FreshJvmProbe() {
    }

    public static void main(String[] args) {
        NativeLibrary.ensureLoaded();
        NativeLibrary.ensureLoaded();
        try (NativeLlamaModel m = NativeLlamaModel.map(Checkpoint.open(Path.of(args[0])));
             NativeLlamaBatch b = m.newBatch(2, 4)) {
            b.forward(3, new int[] {1, 2, 3}, new int[] {0, 1, 0}, new int[] {0, 0, 1}, 2, new int[] {1, 2}, 2);
            if (!Float.isFinite(b.logit(1, 0))) {
                throw new AssertionError("non-finite logit");
            }
        }
        System.out.println("probe ok loads=" + NativeLibrary.loadCount());
    }
}
