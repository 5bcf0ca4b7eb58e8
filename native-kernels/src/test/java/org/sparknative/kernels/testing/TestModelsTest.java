package org.sparknative.kernels.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.opentest4j.TestAbortedException;

/** The one way tests find the real models: the two properties in order, else the two places under the project root. */
class TestModelsTest {
    private String savedModels;
    private String savedShared;

    @TempDir
    Path tmp;

    @BeforeEach
    void save() {
        savedModels = System.getProperty(TestModels.MODELS_DIR_PROPERTY);
        savedShared = System.getProperty(TestModels.SHARED_MODELS_DIR_PROPERTY);
    }

    @AfterEach
    void restore() {
        set(TestModels.MODELS_DIR_PROPERTY, savedModels);
        set(TestModels.SHARED_MODELS_DIR_PROPERTY, savedShared);
    }

    private static void set(String property, String value) {
        if (value == null) {
            System.clearProperty(property);
        } else {
            System.setProperty(property, value);
        }
    }

    @Test
    void propertiesAreSearchedInOrder() throws Exception {
        Path first = Files.createDirectories(tmp.resolve("models"));
        Path second = Files.createDirectories(tmp.resolve("shared"));
        Files.writeString(first.resolve("both.bin"), "1");
        Files.writeString(second.resolve("both.bin"), "2");
        Files.writeString(second.resolve("second.bin"), "2");
        set(TestModels.MODELS_DIR_PROPERTY, first.toString());
        set(TestModels.SHARED_MODELS_DIR_PROPERTY, second.toString());
        assertEquals(List.of(first.toAbsolutePath().normalize(), second.toAbsolutePath().normalize()), TestModels.places());
        assertEquals(first.resolve("both.bin").toAbsolutePath().normalize(), TestModels.require("both.bin"));
        assertEquals(second.resolve("second.bin").toAbsolutePath().normalize(), TestModels.require("second.bin"));
        assertEquals(Optional.empty(), TestModels.find("absent.bin"));
    }

    @Test
    void anAbsentModelSkipsNamingBothPlaces() throws Exception {
        Path first = Files.createDirectories(tmp.resolve("models"));
        Path second = Files.createDirectories(tmp.resolve("shared"));
        set(TestModels.MODELS_DIR_PROPERTY, first.toString());
        set(TestModels.SHARED_MODELS_DIR_PROPERTY, second.toString());
        TestAbortedException e = assertThrows(TestAbortedException.class, () -> TestModels.require("absent.bin"));
        String m = e.getMessage();
        assertTrue(m.contains("absent.bin") && m.contains(first.toAbsolutePath().normalize().toString())
            && m.contains(second.toAbsolutePath().normalize().toString()), m);
    }

    @Test
    void unsetPropertiesFallBackToTheProjectRoot() throws Exception {
        Path root = TestModels.projectRoot().orElseThrow(() -> new AssertionError("no parent pom above " + Path.of("").toAbsolutePath()));
        assertTrue(Files.readString(root.resolve("pom.xml")).contains("<module>native-kernels</module>"), root.toString());
        assertTrue(TestModels.isParentPom(Files.readString(root.resolve("pom.xml"))));
        assertFalse(TestModels.isParentPom(Files.readString(root.resolve("native-kernels/pom.xml"))),
            "a module's pom names the parent only in its <parent> block");
        set(TestModels.MODELS_DIR_PROPERTY, null);
        set(TestModels.SHARED_MODELS_DIR_PROPERTY, "  ");
        List<Path> places = TestModels.places();
        assertEquals(List.of(root.resolve("data/models").toAbsolutePath().normalize(),
            root.resolve("../shared/models").toAbsolutePath().normalize()), places);
        // the same files as with the properties the build passes, whichever place holds them
        for (String name : new String[] {TestModels.STORIES_260K, TestModels.TOK_512, TestModels.LLAMA2_TOKENIZER}) {
            Optional<Path> found = TestModels.find(name);
            found.ifPresent(p -> assertTrue(places.contains(p.getParent()), p.toString()));
            boolean anywhere = Files.isRegularFile(places.get(0).resolve(name)) || Files.isRegularFile(places.get(1).resolve(name));
            assertEquals(anywhere, found.isPresent(), name);
        }
        TestAbortedException e = assertThrows(TestAbortedException.class, () -> TestModels.require("absent.bin"));
        assertTrue(e.getMessage().contains(places.get(0).toString()) && e.getMessage().contains(places.get(1).toString()),
            e.getMessage());
    }
}
