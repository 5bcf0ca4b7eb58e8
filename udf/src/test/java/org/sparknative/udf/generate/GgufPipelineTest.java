package org.sparknative.udf.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.gguf.GgmlType;
import org.sparknative.kernels.gguf.GgufConverter;
import org.sparknative.kernels.llama.CheckpointException;
import org.sparknative.kernels.llama.CheckpointFormat;
import org.sparknative.kernels.llama.KvCacheType;
import org.sparknative.kernels.llama.LlamaConfig;
import org.sparknative.kernels.llama.SyntheticCheckpoint;
import org.sparknative.kernels.llama.TokenizerWriter;
import org.sparknative.kernels.testing.TestModels;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.TaskResources;

/** GGUF models through the executor's registry and a task's pipeline, on the native and the Java backends. */
class GgufPipelineTest {
    @TempDir
    Path tmp;

    private static String greedy(Path model, Path tok, Backend backend, KvCacheType kv, int context, String prompt,
                                 int tokens) {
        GenerationSpec spec = new GenerationSpec(model.toString(), tok == null ? null : tok.toString(), backend, 2, 8, 1,
            BadRowPolicy.ROW_ERROR).withKvCache(kv).withContext(context);
        try (TaskResources task = new TaskResources()) {
            GenerationScheduler s = GenerationPipeline.newScheduler(ModelRegistry.get(model, tok, context), spec, 1, 0,
                4, task);
            GenerationScheduler.Result[] r = s.run(new GenerationScheduler.Request[] {
                GenerationScheduler.Request.of(prompt.getBytes(StandardCharsets.UTF_8),
                    new GenerationParams(tokens, 0f, 0.9f, 1))}, RowLabels.positions(0), null);
            assertTrue(r[0].completion() != null, String.valueOf(r[0].finishReason()));
            return new String(r[0].completion(), StandardCharsets.UTF_8);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** llama.cpp's greedy text after "The old man", from the quantized files, with the default (F16) KV cache. */
    @Test
    void realQuantizedFilesGiveLlamaCppsTextOnBothBackends() {
        String q8 = TestModels.OLD_MAN_F32_Q8_0.substring("The old man".length());
        String q4 = TestModels.OLD_MAN_Q4_0.substring("The old man".length());
        Path q8File = TestModels.require(TestModels.STORIES_260K_GGUF_Q8_0);
        Path q4File = TestModels.require(TestModels.STORIES_260K_GGUF_Q4_0);
        for (Backend b : new Backend[] {Backend.CPU, Backend.JAVA}) {
            assertEquals(q8, greedy(q8File, null, b, KvCacheType.AUTO, 0, "The old man", 48), b.label());
            assertEquals(q4, greedy(q4File, null, b, KvCacheType.AUTO, 0, "The old man", 48), b.label());
        }
        // The embedded vocabulary is tok512's, so giving tok512.bin changes nothing.
        assertEquals(q8, greedy(q8File, TestModels.require(TestModels.TOK_512), Backend.CPU, KvCacheType.AUTO, 0,
            "The old man", 48));
        // llama2.c's 200-token story needs 200 positions: the file's trained context is 128, --context 512 runs it.
        assertEquals(TestModels.GREEDY_260K, greedy(TestModels.require(TestModels.STORIES_260K_GGUF), null, Backend.CPU,
            KvCacheType.AUTO, 512, "", 200));
    }

    @Test
    void aSyntheticGgufRunsWithItsOwnTokenizerAndTheRegistryKeysOnTokenizerAndContext() {
        LlamaConfig cfg = new LlamaConfig(64, 96, 2, 4, 2, 300, 64, false);
        Path bin = tmp.resolve("m.bin");
        Path tok = tmp.resolve("tok.bin");
        SyntheticCheckpoint.write(bin, cfg, 9, CheckpointFormat.V1);
        TokenizerWriter.writeByteLevel(tok, 300);
        Path gguf = tmp.resolve("m.gguf");
        GgufConverter.fromLlama2c(bin, tok, GgmlType.F32, gguf);
        // With the same (float) KV cache, the GGUF F32 file is the .bin: the same text, native and Java.
        String want = greedy(bin, tok, Backend.CPU, KvCacheType.AUTO, 0, "abc", 20);
        assertEquals(want, greedy(gguf, null, Backend.CPU, KvCacheType.F32, 0, "abc", 20));
        assertEquals(want, greedy(gguf, null, Backend.JAVA, KvCacheType.F32, 0, "abc", 20));
        assertEquals(greedy(gguf, null, Backend.CPU, KvCacheType.AUTO, 0, "abc", 20),
            greedy(bin, tok, Backend.CPU, KvCacheType.F16, 0, "abc", 20));

        ModelRegistry.Entry own = ModelRegistry.get(gguf, null);
        assertTrue(own.model().isGguf());
        assertSame(own, ModelRegistry.get(gguf, null, 0));
        assertNotSame(own, ModelRegistry.get(gguf, tok));
        assertEquals(32, ModelRegistry.get(gguf, null, 32).model().config().seqLen());
        // A llama2.c checkpoint has no tokenizer of its own.
        CheckpointException none = assertThrows(CheckpointException.class,
            () -> ModelRegistry.get(bin, null).javaTokenizer());
        assertTrue(none.getMessage().contains("a llama2.c checkpoint carries no tokenizer"), none.getMessage());
        // The CUDA backend takes llama2.c checkpoints only; on this GGUF model, naming it is an error (or, where no
        // device is usable, CUDA's own error comes first).
        GenerationSpec cuda = new GenerationSpec(gguf.toString(), null, Backend.CUDA, 2, 8, 1, BadRowPolicy.ROW_ERROR);
        try (TaskResources task = new TaskResources()) {
            RuntimeException e = assertThrows(RuntimeException.class,
                () -> GenerationPipeline.newScheduler(own, cuda, 1, 0, 4, task));
            assertTrue(e.getMessage().contains("cuda"), e.getMessage());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
