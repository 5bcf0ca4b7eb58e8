package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.integrate.IntegrateReference;
import org.sparknative.kernels.testing.FreshJvm;

/**
 * A session started without the SQL extension ({@link NoExtensionProbe}, fresh JVM): the row-at-a-time
 * registrations still give {@code integrate_f} and {@code generate(prompt)}, and the DataFrame API still plans its
 * batched operator (it adds the planner rule itself), reading rows where the extension would read columns.
 */
class NoExtensionTest {
    @TempDir
    Path tmp;

    @Test
    void rowFunctionsAndTheDataFrameApiWorkWithoutTheExtension() throws Exception {
        String out = FreshJvm.run(NoExtensionProbe.class, tmp.toString());
        Map<String, String> v = new HashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (line.startsWith("sql.") || line.startsWith("api.")) {
                v.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        double expected = IntegrateReference.integrate(0.0, 2.0, 4);
        assertEquals(expected, Double.parseDouble(v.get("sql.integrate_f")), 1e-15, out);
        assertEquals(expected, Double.parseDouble(v.get("api.integrate_f")), 1e-15, out);
        String plan = v.get("api.plan");
        assertTrue(plan.contains("BatchedIntegrateF") && plan.contains("row input"), plan);
        assertFalse(plan.contains("columnar input"), plan);
        assertTrue(v.containsKey("sql.generate") && !v.get("sql.generate").isEmpty(), out);
        assertEquals(v.get("api.generate"), v.get("sql.generate"), out);
    }
}
