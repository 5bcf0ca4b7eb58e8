package org.sparknative.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** {@link NativeStatus} mirrors {@code sn_status.h}: the same names and values, in the same order. */
class NativeStatusTest {
    @Test
    void mirrorsTheCHeader() throws IOException {
        // Surefire runs in the module directory.
        String header = Files.readString(Path.of("src/main/c/sn_status.h"));
        Matcher m = Pattern.compile("\\bSN_(\\w+)\\s*=\\s*(-?\\d+)").matcher(header);
        Map<String, Integer> c = new LinkedHashMap<>();
        while (m.find()) {
            c.put(m.group(1), Integer.parseInt(m.group(2)));
        }
        Map<String, Integer> java = new LinkedHashMap<>();
        for (NativeStatus s : NativeStatus.values()) {
            java.put(s.name(), s.code());
            assertFalse(s.message().isBlank(), s.name());
        }
        assertEquals(c, java);
        assertEquals(0, NativeStatus.OK.code());
    }

    @Test
    void lookUpByCode() {
        for (NativeStatus s : NativeStatus.values()) {
            assertEquals(s, NativeStatus.of(s.code()));
        }
        assertTrue(NativeStatus.ERR_ARG.describe().startsWith("ERR_ARG (-7): "));
        assertThrows(IllegalArgumentException.class, () -> NativeStatus.of(-99));
    }
}
