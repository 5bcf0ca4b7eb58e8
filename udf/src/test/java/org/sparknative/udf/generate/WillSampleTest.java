package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.llama.Checkpoint;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.Tokenizer;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.RowLabels;

/**
 * The scheduling core tells the backend, once per step and before sampling, exactly which logits rows will be
 * sampled at a temperature above 0 (what the CUDA backend copies to the host in one go), and says nothing in
 * a step where every row is greedy.
 */
class WillSampleTest {
    @TempDir
    Path tmp;

    /** The reference backend, checking every sample call against the step's announcement. */
    private static final class Announced extends ForwardingBackend {
        boolean[] announced;
        int nAnnounced;
        int announcements;
        int sampledCalls;
        int greedyCalls;
        int steps;

        Announced(Checkpoint c, int slots, int rows) {
            super(new ReferenceBackend(c, slots, rows));
        }

        @Override
        public void forward(int rows, int[] tokens, int[] positions, int[] slots, int nLogits, int[] logitRows) {
            announced = null;
            steps++;
            super.forward(rows, tokens, positions, slots, nLogits, logitRows);
        }

        @Override
        public void willSample(int nLogits, boolean[] sampled) {
            assertTrue(announced == null, "one announcement per step");
            announced = sampled.clone();
            nAnnounced = nLogits;
            announcements++;
        }

        @Override
        public int sample(int k, float temperature, float topp, long[] rngState) {
            if (temperature > 0f) {
                sampledCalls++;
                assertTrue(announced != null && k < nAnnounced && announced[k], "row " + k + " sampled unannounced");
            } else {
                greedyCalls++;
                assertTrue(announced == null || !announced[k], "greedy row " + k + " announced as sampled");
            }
            return super.sample(k, temperature, topp, rngState);
        }
    }

    @Test
    void sampledRowsAreAnnouncedAndGreedyStepsAreNot() {
        Path model = tmp.resolve("m.bin");
        Path tokFile = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(model, new LlamaConfig(32, 64, 2, 4, 2, 300, 40, false), 17, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tokFile, 300);
        Checkpoint ckpt = Checkpoint.open(model);
        Tokenizer tok = Tokenizer.load(tokFile, 300);
        GenerationScheduler.Request[] mixed = new GenerationScheduler.Request[6];
        GenerationScheduler.Request[] greedy = new GenerationScheduler.Request[6];
        for (int i = 0; i < mixed.length; i++) {
            byte[] p = ("row " + i).getBytes(StandardCharsets.UTF_8);
            mixed[i] = GenerationScheduler.Request.of(p, new GenerationParams(6, i % 3 == 0 ? 0f : 0.8f, 0.9f, i));
            greedy[i] = GenerationScheduler.Request.of(p, new GenerationParams(6, 0f, 0.9f, i));
        }
        try (Announced a = new Announced(ckpt, 4, 4 + 4);
             ReferenceBackend plain = new ReferenceBackend(ckpt, 4, 4 + 4)) {
            GenerationScheduler.Result[] got = new ContinuousBatcher(a, new JavaTokenCodec(tok), BadRowPolicy.ROW_ERROR, 4)
                .run(mixed, RowLabels.positions(0), null);
            GenerationScheduler.Result[] want = new ContinuousBatcher(plain, new JavaTokenCodec(tok), BadRowPolicy.ROW_ERROR,
                4).run(mixed, RowLabels.positions(0), null);
            for (int i = 0; i < got.length; i++) {
                assertArrayEquals(want[i].completion(), got[i].completion(), "row " + i);
            }
            assertTrue(a.sampledCalls > 0 && a.greedyCalls > 0, a.sampledCalls + " / " + a.greedyCalls);
            assertTrue(a.announcements > 0 && a.announcements <= a.steps);

            int before = a.announcements;
            new ContinuousBatcher(a, new JavaTokenCodec(tok), BadRowPolicy.ROW_ERROR, 4).run(greedy, RowLabels.positions(0),
                null);
            assertEquals(before, a.announcements, "no announcement when every row is greedy");
        }
    }
}
