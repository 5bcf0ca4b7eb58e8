package org.sparknative.kernels.llama;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.sparknative.kernels.testing.TestModels;

/**
 * Real prompt-like text for the tokenizer tests and benchmarks: the {@code prompt} fields of the repository's
 * {@code data/prompts/stories.jsonl}, found under the project root as {@link TestModels} finds it.
 */
final class PromptTexts {
    private PromptTexts() {
    }

    /** @return the sample prompts file, if the project root can be found */
    static Optional<Path> storiesFile() {
        return TestModels.projectRoot().map(r -> r.resolve("data").resolve("prompts").resolve("stories.jsonl"))
            .filter(Files::isRegularFile);
    }

    /** @return the non-empty prompts of {@code stories.jsonl}, in file order (empty if the file is not found) */
    static List<String> stories() {
        Optional<Path> file = storiesFile();
        if (file.isEmpty()) {
            return List.of();
        }
        List<String> prompts = new ArrayList<>();
        try {
            for (String line : Files.readAllLines(file.get(), StandardCharsets.UTF_8)) {
                String p = promptField(line);
                if (p != null && !p.isEmpty()) {
                    prompts.add(p);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return prompts;
    }

    /**
     * @return about {@code bytes} bytes (cut at a prompt boundary just past it) of the sample prompts joined by
     *         single spaces and repeated as often as needed; a fixed English sentence stands in if the file is
     *         not found
     */
    static byte[] longPrompt(int bytes) {
        List<String> prompts = stories();
        if (prompts.isEmpty()) {
            prompts = List.of("Once upon a time, there was a little girl named Lily. She loved to play outside in the park.");
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(bytes + 256);
        for (int i = 0; out.size() < bytes; i++) {
            if (i > 0) {
                out.write(' ');
            }
            out.writeBytes(prompts.get(i % prompts.size()).getBytes(StandardCharsets.UTF_8));
        }
        return out.toByteArray();
    }

    /** The value of {@code "prompt": "..."} on one JSON line (the escapes JSON allows), or null. */
    static String promptField(String line) {
        int k = line.indexOf("\"prompt\"");
        if (k < 0) {
            return null;
        }
        int q = line.indexOf('"', line.indexOf(':', k) + 1);
        if (q < 0) {
            return null;
        }
        StringBuilder sb = new StringBuilder();
        for (int i = q + 1; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c == '"') {
                return sb.toString();
            }
            if (c != '\\' || i + 1 >= line.length()) {
                sb.append(c);
                continue;
            }
            char e = line.charAt(++i);
            switch (e) {
                case 'n' -> sb.append('\n');
                case 't' -> sb.append('\t');
                case 'r' -> sb.append('\r');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'u' -> {
                    sb.append((char) Integer.parseInt(line.substring(i + 1, i + 5), 16));
                    i += 4;
                }
                default -> sb.append(e); // \" \\ \/
            }
        }
        return null;
    }
}
