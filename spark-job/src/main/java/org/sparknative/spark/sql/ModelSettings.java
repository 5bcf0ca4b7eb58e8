package org.sparknative.spark.sql;

import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.TreeSet;
import org.sparknative.kernels.cuda.MatmulMode;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;

/**
 * The models SQL's {@code generate()} can name, from Spark settings (session or application):
 * <pre>
 * spark.sparknative.model.&lt;name&gt;.path          a GGUF file or a llama2.c checkpoint (local path, URI, or a --files name)
 * spark.sparknative.model.&lt;name&gt;.tokenizer     its tokenizer.bin (a llama2.c checkpoint); a GGUF model's own if unset
 * spark.sparknative.model.&lt;name&gt;.context       positions per sequence, 0 = the model's (default 0)
 * spark.sparknative.model.&lt;name&gt;.kvCache       auto | f32 | f16 (default auto: f16 for GGUF, f32 for llama2.c)
 * spark.sparknative.model.&lt;name&gt;.backend       cpu | cuda | auto | java (default: spark.sparknative.backend, else cpu)
 * spark.sparknative.model.&lt;name&gt;.slots         KV cache slots per task (default 32)
 * spark.sparknative.model.&lt;name&gt;.threads       threads per task, 0 = spark.task.cpus (default 0)
 * spark.sparknative.model.&lt;name&gt;.prefillTokens prompt tokens per step (default 64)
 * spark.sparknative.model.&lt;name&gt;.longPrompts   fail | row-error | truncate (default row-error)
 * spark.sparknative.model.&lt;name&gt;.sha256, .tokenizerSha256   expected checksums of remote files
 * spark.sparknative.model.&lt;name&gt;.recordBatchRows  prompts per Arrow record batch (default max(256, 8 * slots))
 * spark.sparknative.model.default                   the model generate() uses without model =&gt; (default: the only one)
 * spark.sparknative.generate.maxNewTokens / .temperature / .topP / .seed   defaults for rows (256, 1.0, 0.9, 42)
 * spark.sparknative.generate.topK / .repetitionPenalty                     defaults for rows (0: all, 1.0: none)
 * </pre>
 * The CUDA backend's matrix products follow {@code spark.sparknative.cuda.matmul}.
 */
final class ModelSettings {
    static final String PREFIX = "spark.sparknative.model.";
    static final String DEFAULT = PREFIX + "default";
    static final String GENERATE = "spark.sparknative.generate.";

    private ModelSettings() {
    }

    /** A resolved model: its name, the spec, the record batch size and the row defaults. */
    record Model(String name, GenerationSpec spec, int recordBatchRows, GenerationParams defaults) {
    }

    /**
     * @param conf  the settings (all of them; only this project's are read)
     * @param model the name given in SQL, or null for the default model
     * @throws org.apache.spark.sql.AnalysisException naming the setting that is missing or wrong, and the
     *                                                models that are configured
     */
    static Model resolve(Map<String, String> conf, String model) {
        TreeSet<String> names = new TreeSet<>();
        for (String k : conf.keySet()) {
            if (k.startsWith(PREFIX) && k.endsWith(".path")) {
                names.add(k.substring(PREFIX.length(), k.length() - ".path".length()));
            }
        }
        String name = model;
        if (name == null) {
            name = conf.get(DEFAULT);
            if (name == null) {
                if (names.size() != 1) {
                    throw SqlArguments.error("generate(): " + (names.isEmpty()
                        ? "no model is configured: set " + PREFIX + "<name>.path (and " + PREFIX + "<name>.tokenizer for a"
                        + " llama2.c checkpoint)"
                        : "several models are configured (" + String.join(", ", names) + "): name one with model => '...'"
                        + " or set " + DEFAULT));
                }
                name = names.first();
            }
        }
        if (!names.contains(name)) {
            throw SqlArguments.error("generate(): unknown model '" + name + "': set " + PREFIX + name + ".path (and .tokenizer)"
                + (names.isEmpty() ? "" : " (configured: " + String.join(", ", names) + ")"));
        }
        String p = PREFIX + name + ".";
        Map<String, String> own = new TreeMap<>();
        conf.forEach((k, v) -> {
            if (k.startsWith(p)) {
                own.put(k.substring(p.length()), v.trim());
            }
        });
        String tokenizer = own.get("tokenizer");
        if (tokenizer != null && tokenizer.isEmpty()) {
            tokenizer = null; // a GGUF model's own; a llama2.c checkpoint without one fails when it is read
        }
        try {
            Backend backend = Backend.parse(own.getOrDefault("backend", conf.getOrDefault(Backend.SPARK_CONF, "cpu")));
            int slots = integer(own, "slots", GenerationSpec.DEFAULT_SLOTS, p);
            GenerationSpec spec = new GenerationSpec(own.get("path"), tokenizer, backend, slots,
                integer(own, "prefillTokens", GenerationSpec.DEFAULT_PREFILL_TOKENS, p), integer(own, "threads", 0, p),
                BadRowPolicy.LONG_PROMPTS.parse(own.getOrDefault("longPrompts", "row-error")), own.get("sha256"),
                own.get("tokenizerSha256"), MatmulMode.parse(conf.getOrDefault("spark.sparknative.cuda.matmul", "invariant")),
                integer(own, "context", 0, p),
                org.sparknative.kernels.llama.KvCacheType.parse(own.getOrDefault("kvCache", "auto")));
            int batch = integer(own, "recordBatchRows", Math.max(256, 8 * slots), p);
            if (batch < 1) {
                throw new IllegalArgumentException(p + "recordBatchRows must be >= 1, got " + batch);
            }
            GenerationParams defaults = new GenerationParams(
                integer(conf, GENERATE + "maxNewTokens", 256, ""),
                (float) number(conf, GENERATE + "temperature", 1.0),
                (float) number(conf, GENERATE + "topP", 0.9),
                longValue(conf, GENERATE + "seed", 42),
                integer(conf, GENERATE + "topK", 0, ""),
                (float) number(conf, GENERATE + "repetitionPenalty", 1.0));
            return new Model(name, spec, batch, defaults);
        } catch (IllegalArgumentException e) {
            throw SqlArguments.error("generate(): model '" + name + "': " + e.getMessage());
        }
    }

    private static int integer(Map<String, String> conf, String key, int dflt, String prefix) {
        String v = conf.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(prefix + key + " must be an integer, got '" + v + "'");
        }
    }

    private static long longValue(Map<String, String> conf, String key, long dflt) {
        String v = conf.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            return Long.parseLong(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be an integer, got '" + v + "'");
        }
    }

    private static double number(Map<String, String> conf, String key, double dflt) {
        String v = conf.get(key);
        if (v == null) {
            return dflt;
        }
        try {
            return Double.parseDouble(v.trim().toLowerCase(Locale.ROOT));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + " must be a number, got '" + v + "'");
        }
    }
}
