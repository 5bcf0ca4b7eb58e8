package org.sparknative.kernels.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.bytedeco.javacpp.BytePointer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.sparknative.kernels.NativeLibrary;

/** The kernel parameter block, without a device: each argument in its 8-byte slot, in the kernel's order. */
class KernelLaunchTest {
    @BeforeAll
    static void loadJavaCpp() {
        NativeLibrary.ensureLoaded(); // JavaCPP's own JNI library, for the native block below
    }

    @Test
    void argumentsLandInTheirSlotsWithTheirWidths() {
        KernelLaunch l = KernelLaunch.of(null, "sn_test").ptr(0x7f00_1234_5678L).i32(-3).f32(1.5f).f64(-2.25).i64(1L << 40);
        assertEquals(5, l.argumentCount());
        try (BytePointer values = new BytePointer(8L * KernelLaunch.MAX_ARGS)) {
            values.fill(0xAB);
            l.writeArguments(values);
            assertEquals(0x7f00_1234_5678L, values.getLong(0));
            assertEquals(-3, values.getInt(8));
            assertEquals(1.5f, values.getFloat(16));
            assertEquals(-2.25, values.getDouble(24));
            assertEquals(1L << 40, values.getLong(32));
        }
    }

    @Test
    void tooManyArgumentsAndBadShapesAreRefused() {
        KernelLaunch l = KernelLaunch.of(null, "sn_test");
        for (int i = 0; i < KernelLaunch.MAX_ARGS; i++) {
            l.i32(i);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> l.i32(99));
        assertEquals("sn_test: more than 16 kernel arguments", e.getMessage());
        IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
            () -> KernelLaunch.of(null, "sn_test").launch(0, 1, 1, 256, 1, 1, 0, null));
        assertEquals("sn_test: bad launch shape grid (0, 1, 1) block (256, 1, 1) shared 0", shape.getMessage());
    }
}
