package org.sparknative.spark.generate;

import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF1;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.unsafe.types.UTF8String;
import org.sparknative.spark.sql.GenerateCall;
import org.sparknative.spark.sql.SparkNativeExtensions;
import org.sparknative.udf.generate.GenerationParams;
import org.sparknative.udf.generate.GenerationSpec;

/**
 * {@code generate(prompt)} as a row-at-a-time UDF, for sessions without the SQL extension
 * ({@link SparkNativeExtensions}, which plans {@code generate()} batched and takes named arguments): the
 * completion text of one prompt per call, with the given model and default settings. Convenient, not fast:
 * each call is a batch of one. A null prompt gives null; a row that fails (such as a prompt longer than the
 * context) fails the query with the row's finish reason. It evaluates the same {@link GenerateCall} the
 * extension plans, one row at a time.
 */
public final class GenerateFunctions {
    /** The SQL name. */
    public static final String NAME = "generate";

    private GenerateFunctions() {
    }

    /** Registers {@code generate(prompt)} in {@code spark}, unless its SQL extension already provides it. */
    public static void register(SparkSession spark, GenerationSpec spec, GenerationParams defaults) {
        if (org.sparknative.spark.sql.SparkNativeSql.hasExtension(spark)) {
            return;
        }
        String model = java.nio.file.Path.of(spec.checkpoint()).getFileName().toString();
        GenerateCall.Settings settings = new GenerateCall.Settings(model, spec, defaults, 1, true, false, null);
        spark.udf().register(NAME, (UDF1<String, String>) prompt -> {
            if (prompt == null) {
                return null;
            }
            List<Expression> args = new ArrayList<>();
            args.add(Literal.create(UTF8String.fromString(prompt), DataTypes.StringType));
            for (var t : GenerateCall.OPTION_TYPES) {
                args.add(Literal.create(null, t));
            }
            Object out = GenerateCall.of(args, settings).eval(null);
            return out == null ? null : out.toString();
        }, DataTypes.StringType);
    }
}
