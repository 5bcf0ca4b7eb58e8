package org.sparknative.udf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.testing.FreshJvm;

/**
 * The CPU path never links against CUDA: a fresh JVM that integrates and generates on {@code cpu} loads no
 * class of the JavaCPP CUDA presets, so an executor without CUDA libraries (or with broken ones) runs it.
 */
class CpuPathTest {
    @TempDir
    Path tmp;

    @Test
    void theCpuBackendLoadsNoCudaBinding() throws Exception {
        String out = FreshJvm.run(List.of("-Xlog:class+load=info"), CpuPathProbe.class, tmp.toString());
        assertTrue(out.contains("\nOK") || out.startsWith("OK"), out.length() > 4000 ? out.substring(out.length() - 4000) : out);
        assertTrue(out.contains("org.sparknative.udf.integrate.IntegrateUdf "), "the class-loading log is missing");
        List<String> cuda = out.lines().filter(l -> l.contains("org.bytedeco.cuda.")).toList();
        assertEquals(List.of(), cuda, "the CPU path loaded CUDA bindings");
    }
}
