package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Finds the real llama2.c models: the ignored data/models/ first, then ../shared/models. */
public final class TestModels {
    /** llama2.c {@code run stories260K.bin -z tok512.bin -t 0 -n 200}. */
    public static final String GREEDY_260K = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad and didn't know what to do. She said, \"I'm sorry, Lily. I didn't know what to do.\"\nLily didn't want to help her mom, so she";
    /** llama2.c {@code run stories260K.bin -z tok512.bin -t 1 -p 1 -s 42 -n 200}. */
    public static final String SAMPLED_260K_SEED42 = "Once upon a time, there was a big roof. The fox was ready to look for people inside. He saw a big rock near a big tree. The roof was very small and fun! He ate the roof too. He got a shiny stool, so he sicked the roof with his friend, the girl named Mia.\n\"Help, Mia. Why are you sad, Mia?\" she asked.\n\"I want to try us,\" Mia said. \"It is cute. We have to find one of smells!\"\nMia felt proud of";

    private TestModels() {
    }

    /** @return the model file, or skips the calling test when it is absent */
    public static Path require(String name) {
        for (String prop : new String[] {"sparknative.models.dir", "sparknative.shared.models.dir"}) {
            String dir = System.getProperty(prop);
            if (dir != null && Files.isRegularFile(Path.of(dir, name))) {
                return Path.of(dir, name);
            }
        }
        assumeTrue(false, name + " not found in data/models or ../shared/models: skipped");
        return null;
    }
}
