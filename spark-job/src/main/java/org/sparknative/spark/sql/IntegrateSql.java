package org.sparknative.spark.sql;

import java.util.List;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.internal.SQLConf;
import org.sparknative.spark.integrate.IntegrateTransform;
import org.sparknative.udf.Backend;
import org.sparknative.udf.BadRowPolicy;

/**
 * The SQL function {@code integrate_f(a, b, n)} of {@link SparkNativeExtensions}. Arguments may be given by
 * position or by name ({@code a => ..., b => ..., n => ...}); {@code a} and {@code b} numeric (cast to
 * DOUBLE), {@code n} an integer (INT or BIGINT). Constant arguments are checked at analysis time, columns
 * row by row. Settings, read when the query is analyzed:
 * <ul>
 *   <li>{@value #BATCH_SIZE_CONF}: rows per Arrow record batch for row input (default
 *       {@value IntegrateTransform#DEFAULT_BATCH_SIZE}; columnar input uses its own batches);</li>
 *   <li>{@value #INVALID_ROWS_CONF}: {@code fail} (default) or {@code row-error};</li>
 *   <li>{@value Backend#SPARK_CONF}: {@code cpu} (default), {@code cuda} or {@code auto}.</li>
 * </ul>
 */
public final class IntegrateSql {
    /** The SQL name. */
    public static final String NAME = "integrate_f";
    /** Rows per record batch for row input. */
    public static final String BATCH_SIZE_CONF = "spark.sparknative.integrate.batchSize";
    /** What invalid rows do in SQL ({@code fail} or {@code row-error}); also {@code generate()}'s error rows. */
    public static final String INVALID_ROWS_CONF = "spark.sparknative.invalidRows";

    private static final List<String> PARAMS = List.of("a", "b", "n");

    private IntegrateSql() {
    }

    /** Builds the call from SQL arguments (Spark calls it while analyzing a query). */
    static Expression build(List<Expression> args) {
        SqlArguments in = SqlArguments.match(NAME, PARAMS, 3, args);
        Expression a = in.asDouble("a");
        Expression b = in.asDouble("b");
        Expression n = in.asInteger("n", true);
        for (String k : List.of("a", "b")) {
            in.checkConstant(k, k.equals("a") ? a : b, v -> Double.isFinite((Double) v) ? null : "must be finite, got " + v);
        }
        in.checkConstant("n", n, v -> ((Number) v).longValue() >= 1 && ((Number) v).longValue() <= Integer.MAX_VALUE
            ? null : "must be in [1, " + Integer.MAX_VALUE + "], got " + v);
        return IntegrateCall.of(a, b, n, List.of(), new IntegrateCall.Settings(options(SQLConf.get()), null, null));
    }

    /** @return the session's settings for {@code integrate_f} */
    static IntegrateTransform.Options options(SQLConf conf) {
        int batch;
        String batchText = conf.getConfString(BATCH_SIZE_CONF, String.valueOf(IntegrateTransform.DEFAULT_BATCH_SIZE));
        try {
            batch = Integer.parseInt(batchText.trim());
        } catch (NumberFormatException e) {
            throw SqlArguments.error(BATCH_SIZE_CONF + " must be an integer >= 1, got '" + batchText + "'");
        }
        if (batch < 1) {
            throw SqlArguments.error(BATCH_SIZE_CONF + " must be >= 1, got " + batch);
        }
        BadRowPolicy policy = policy(conf);
        Backend backend;
        String backendText = conf.getConfString(Backend.SPARK_CONF, Backend.CPU.label());
        try {
            backend = Backend.parse(backendText);
        } catch (IllegalArgumentException e) {
            throw SqlArguments.error(Backend.SPARK_CONF + " must be cpu, cuda or auto for " + NAME + ", got '" + backendText + "'");
        }
        if (backend == Backend.JAVA) {
            throw SqlArguments.error(Backend.SPARK_CONF + " must be cpu, cuda or auto for " + NAME + ", got 'java'");
        }
        return new IntegrateTransform.Options(batch, policy, backend);
    }

    /** @return the session's {@value #INVALID_ROWS_CONF} */
    static BadRowPolicy policy(SQLConf conf) {
        String text = conf.getConfString(INVALID_ROWS_CONF, BadRowPolicy.FAIL.label());
        try {
            return BadRowPolicy.INVALID_ROWS.parse(text);
        } catch (IllegalArgumentException e) {
            throw SqlArguments.error(INVALID_ROWS_CONF + ": " + e.getMessage());
        }
    }
}
