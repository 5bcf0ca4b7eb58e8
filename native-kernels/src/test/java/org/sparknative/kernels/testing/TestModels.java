package org.sparknative.kernels.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The real llama2.c models, and their GGUF conversions by llama.cpp, for tests of every module (published in
 * native-kernels' test-jar), and what llama2.c itself generates with them.
 *
 * <p>One way to find a model, in this order:
 * <ol>
 *   <li>the directory named by the system property {@value #MODELS_DIR_PROPERTY} (the build passes the
 *       ignored {@code data/models/}); unset: {@code data/models} under the project root;</li>
 *   <li>the directory named by {@value #SHARED_MODELS_DIR_PROPERTY} (the build passes
 *       {@code ../shared/models}); unset: {@code ../shared/models} beside the project root.</li>
 * </ol>
 * The project root is found by walking up from the working directory to the directory whose
 * {@code pom.xml} is the parent pom ({@value #PARENT_ARTIFACT_ID}), so a test run from an IDE or from a
 * module directory finds the same files as the Maven build. A test that needs an absent model is skipped
 * (a JUnit assumption) with a message naming both places.
 *
 * <p>Threading: stateless.
 */
public final class TestModels {
    /** The system property naming the first models directory (normally {@code data/models}). */
    public static final String MODELS_DIR_PROPERTY = "sparknative.models.dir";
    /** The system property naming the second models directory (normally {@code ../shared/models}). */
    public static final String SHARED_MODELS_DIR_PROPERTY = "sparknative.shared.models.dir";
    /** The artifactId of the parent pom that marks the project root. */
    public static final String PARENT_ARTIFACT_ID = "spark-native-parent";

    /** The 260K-parameter TinyStories model (vocabulary 512, seq_len 512). */
    public static final String STORIES_260K = "stories260K.bin";
    /** Its tokenizer (512 pieces). */
    public static final String TOK_512 = "tok512.bin";
    /** The Llama 2 tokenizer (32000 pieces). */
    public static final String LLAMA2_TOKENIZER = "tokenizer.bin";
    /**
     * {@link #STORIES_260K} as GGUF v3 (llama.cpp's llama2.c converter): architecture {@code llama}, every tensor F32,
     * a separate {@code output.weight}, {@link #TOK_512} embedded as {@code tokenizer.ggml.*}.
     */
    public static final String STORIES_260K_GGUF = "stories260K.gguf";
    /** {@link #STORIES_260K_GGUF} with its 2-D weights in F16 (llama.cpp's quantize), the norms F32. */
    public static final String STORIES_260K_GGUF_F16 = "stories260K-f16.gguf";
    /** {@link #STORIES_260K_GGUF} in Q8_0 where rows allow (not {@code ffn_down}, rows of 172: F32), norms F32. */
    public static final String STORIES_260K_GGUF_Q8_0 = "stories260K-q8_0.gguf";
    /** {@link #STORIES_260K_GGUF} in Q4_0 where rows allow (not {@code ffn_down}, rows of 172: F32), norms F32. */
    public static final String STORIES_260K_GGUF_Q4_0 = "stories260K-q4_0.gguf";

    /** llama2.c {@code run stories260K.bin -z tok512.bin -t 0 -n 200}: greedy, 200 tokens after BOS. */
    public static final String GREEDY_260K = "Once upon a time, there was a little girl named Lily. She loved to play"
        + " outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\n"
        + "Lily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said,"
        + " \"I want to play with your ball, but I can't find it.\"\n"
        + "Lily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\n"
        + "Lily didn't want to help her mom, so she";
    /** llama2.c {@code run stories260K.bin -z tok512.bin -t 1 -p 1 -s 42 -n 200}: multinomial, seed 42. */
    public static final String SAMPLED_260K_SEED42 = "Once upon a time, there was a big roof. The fox was ready to look"
        + " for people inside. He saw a big rock near a big tree. The roof was very small and fun! He ate the roof too."
        + " He got a shiny stool, so he sicked the roof with his friend, the girl named Mia.\n"
        + "\"Help, Mia. Why are you sad, Mia?\" she asked.\n"
        + "\"I want to try us,\" Mia said. \"It is cute. We have to find one of smells!\"\n"
        + "Mia felt proud of";

    /**
     * llama.cpp's greedy output (its default F16 KV cache) for the prompt "The old man" with BOS: the prompt, then 48
     * tokens, from {@link #STORIES_260K_GGUF} and {@link #STORIES_260K_GGUF_Q8_0} (the same text), as recorded when
     * the files were made. Decoded with {@link #TOK_512}, which has the GGUF's embedded vocabulary.
     */
    public static final String OLD_MAN_F32_Q8_0 = "The old man was a little girl named Lily. She loved to play with her toys"
        + " and her toys. One day, she saw a big box with a big box. It was a big,";
    /** As {@link #OLD_MAN_F32_Q8_0}, from {@link #STORIES_260K_GGUF_Q4_0}. */
    public static final String OLD_MAN_Q4_0 = "The old man was a little girl who loved to play with her toys. She had a big"
        + " box of colors and a small box. She had a big smil";

    private TestModels() {
    }

    /**
     * @return the model file {@code name}, from the first of the two places that holds it
     * @throws org.opentest4j.TestAbortedException (skipping the calling test) if neither holds it
     */
    public static Path require(String name) {
        Optional<Path> found = find(name);
        assumeTrue(found.isPresent(), () -> name + " not found in " + describePlaces()
            + ": skipped (data/models/fetch.sh downloads the models into data/models)");
        return found.get();
    }

    /** @return the model file {@code name} from the first of the two places that holds it, or empty */
    public static Optional<Path> find(String name) {
        for (Path dir : places()) {
            Path p = dir.resolve(name);
            if (Files.isRegularFile(p)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }

    /**
     * @return the directories searched, in order (those that can be named: a place whose property is
     *         unset while no project root is found is left out)
     */
    public static List<Path> places() {
        Path root = projectRoot().orElse(null);
        List<Path> places = new ArrayList<>(2);
        place(MODELS_DIR_PROPERTY, root == null ? null : root.resolve("data").resolve("models")).ifPresent(places::add);
        place(SHARED_MODELS_DIR_PROPERTY, root == null ? null : root.resolve("..").resolve("shared").resolve("models"))
            .ifPresent(places::add);
        return places;
    }

    /**
     * @return the project root: the nearest directory at or above the working directory whose
     *         {@code pom.xml} is the parent pom, or empty
     */
    public static Optional<Path> projectRoot() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path pom = dir.resolve("pom.xml");
            try {
                if (Files.isRegularFile(pom) && isParentPom(Files.readString(pom))) {
                    return Optional.of(dir);
                }
            } catch (IOException | RuntimeException e) {
                // an unreadable pom is not the parent pom; keep walking up
            }
        }
        return Optional.empty();
    }

    /** Whether the pom's own artifactId (not the one in its {@code <parent>} block, as modules have) is the parent's. */
    static boolean isParentPom(String pom) {
        String own = pom.replaceAll("(?s)<parent>.*?</parent>", "");
        return own.contains("<artifactId>" + PARENT_ARTIFACT_ID + "</artifactId>");
    }

    private static Optional<Path> place(String property, Path fallback) {
        String dir = System.getProperty(property);
        if (dir != null && !dir.isBlank()) {
            return Optional.of(Path.of(dir).toAbsolutePath().normalize());
        }
        return Optional.ofNullable(fallback).map(p -> p.toAbsolutePath().normalize());
    }

    private static String describePlaces() {
        Path root = projectRoot().orElse(null);
        return describe(MODELS_DIR_PROPERTY, root == null ? null : root.resolve("data/models")) + " nor in "
            + describe(SHARED_MODELS_DIR_PROPERTY, root == null ? null : root.resolve("../shared/models"));
    }

    private static String describe(String property, Path fallback) {
        String dir = System.getProperty(property);
        if (dir != null && !dir.isBlank()) {
            return Path.of(dir).toAbsolutePath().normalize() + " (-D" + property + ")";
        }
        if (fallback != null) {
            return fallback.toAbsolutePath().normalize() + " (" + property + " unset: under the project root)";
        }
        return "<" + property + " unset and no project root (" + PARENT_ARTIFACT_ID + " pom.xml) above "
            + Path.of("").toAbsolutePath() + ">";
    }
}
