package org.sparknative.spark.sql;

import java.util.Arrays;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.plans.logical.LogicalPlan;
import org.apache.spark.sql.catalyst.rules.Rule;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Makes a session plan the project's calls batched, for the DataFrame API ({@code IntegrateTransform},
 * {@code GenerateTransform}) on a session started without {@link SparkNativeExtensions}: adds
 * {@link NativeEvalRule} and {@link NativeEvalStrategy} through the session's experimental methods. Columnar
 * bulk input needs the extension itself (Spark takes columnar rules only when a session starts); without it
 * the operator reads rows.
 */
public final class SparkNativeSql {
    private static final Logger LOG = LoggerFactory.getLogger(SparkNativeSql.class);

    private SparkNativeSql() {
    }

    /**
     * @return the row-id columns of {@code df} ({@code id}, {@code _input_row}, {@code _corrupt_record}) as
     *         expressions, for a call's context (messages name rows by them, seeds use {@code id})
     */
    public static java.util.List<org.apache.spark.sql.catalyst.expressions.Expression> rowIdColumns(
        org.apache.spark.sql.Dataset<org.apache.spark.sql.Row> df) {
        java.util.List<org.apache.spark.sql.catalyst.expressions.Expression> out = new java.util.ArrayList<>();
        java.util.List<String> names = java.util.List.of(df.columns());
        for (String c : java.util.List.of(org.sparknative.spark.RowIds.ID, org.sparknative.spark.RowIds.INPUT_ROW,
            org.sparknative.spark.RowIds.CORRUPT_RECORD)) {
            if (names.contains(c)) {
                out.add(org.apache.spark.sql.classic.ExpressionUtils.expression(df.col("`" + c + "`")));
            }
        }
        return out;
    }

    /** @return whether {@code spark} was started with {@link SparkNativeExtensions} in {@code spark.sql.extensions} */
    public static boolean hasExtension(SparkSession spark) {
        String list = spark.sparkContext().getConf().get("spark.sql.extensions", "");
        return Arrays.stream(list.split(",")).map(String::trim).anyMatch(SparkNativeExtensions.CLASS_NAME::equals);
    }

    /** Adds the rule and the strategy to {@code spark} unless it has the extension or they are there already. */
    public static synchronized void install(SparkSession spark) {
        if (hasExtension(spark)) {
            return;
        }
        var experimental = spark.experimental();
        for (Rule<LogicalPlan> r : Catalyst.list(experimental.extraOptimizations())) {
            if (r instanceof NativeEvalRule) {
                return;
            }
        }
        experimental.extraOptimizations_$eq(Catalyst.append(experimental.extraOptimizations(), new NativeEvalRule()));
        experimental.extraStrategies_$eq(Catalyst.append(experimental.extraStrategies(), new NativeEvalStrategy()));
        LOG.info("spark-native: the session has no {} in spark.sql.extensions; batched evaluation is added to it, but "
            + "columnar input is read as rows", SparkNativeExtensions.CLASS_NAME);
    }
}
