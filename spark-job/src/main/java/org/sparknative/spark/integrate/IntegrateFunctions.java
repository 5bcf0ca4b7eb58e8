package org.sparknative.spark.integrate;

import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF3;
import org.apache.spark.sql.types.DataTypes;
import org.sparknative.kernels.integrate.IntegrateReference;
import org.sparknative.kernels.integrate.IntegrateKernels;
import org.sparknative.udf.BadRowPolicy;
import org.sparknative.udf.ExecutorMetrics;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.integrate.IntegrateValidation;

/**
 * Row-at-a-time SQL functions of the integration workload, for SQL and the DataFrame API:
 * <ul>
 *   <li>{@code integrate_f_row(a, b, n)}, and {@code integrate_f(a, b, n)} on a session without the SQL
 *       extension ({@code SparkNativeExtensions}, whose {@code integrate_f} is batched): one JNI call into the
 *       native kernel per row ({@code native-row}; slower than the batched path by design);</li>
 *   <li>{@code integrate_f_java(a, b, n)}: the plain Java loop ({@code java-row}), the baseline.</li>
 * </ul>
 * Both return DOUBLE; a null input gives null. An invalid row ({@code n <= 0}, non-finite {@code a} or
 * {@code b}) fails the query with a message naming the values under {@link BadRowPolicy#FAIL}, or
 * returns null under {@link BadRowPolicy#ROW_ERROR}. The native function counts its kernel calls (rows and
 * time) in {@link ExecutorMetrics}.
 */
public final class IntegrateFunctions {
    /** SQL name of the native row-at-a-time function. */
    public static final String NATIVE_NAME = "integrate_f";
    /** SQL name of the native row-at-a-time function, whatever the session's extensions. */
    public static final String ROW_NAME = "integrate_f_row";
    /** SQL name of the pure-Java row-at-a-time function. */
    public static final String JAVA_NAME = "integrate_f_java";

    private IntegrateFunctions() {
    }

    /**
     * Registers {@code integrate_f_row}, {@code integrate_f_java} and, unless the session has the SQL extension,
     * {@code integrate_f} in {@code spark} with the given policy.
     */
    public static void register(SparkSession spark, BadRowPolicy policy) {
        BadRowPolicy.INVALID_ROWS.check(policy);
        if (!org.sparknative.spark.sql.SparkNativeSql.hasExtension(spark)) {
            spark.udf().register(NATIVE_NAME, nativeRow(policy), DataTypes.DoubleType);
        }
        spark.udf().register(ROW_NAME, nativeRow(policy), DataTypes.DoubleType);
        spark.udf().register(JAVA_NAME, javaRow(policy), DataTypes.DoubleType);
    }

    /** The native row-at-a-time UDF. */
    public static UDF3<Double, Double, Integer, Double> nativeRow(BadRowPolicy policy) {
        return (a, b, n) -> {
            if (a == null || b == null || n == null || !valid(NATIVE_NAME, a, b, n, policy)) {
                return null;
            }
            long t0 = System.nanoTime();
            double x = IntegrateKernels.integrateRow(a, b, n);
            ExecutorMetrics.nativeCallSince(t0);
            ExecutorMetrics.integrateRows(1);
            return x;
        };
    }

    /** The pure-Java row-at-a-time UDF. */
    public static UDF3<Double, Double, Integer, Double> javaRow(BadRowPolicy policy) {
        return (a, b, n) -> {
            if (a == null || b == null || n == null || !valid(JAVA_NAME, a, b, n, policy)) {
                return null;
            }
            return IntegrateReference.integrate(a, b, n);
        };
    }

    private static boolean valid(String fn, double a, double b, int n, BadRowPolicy policy) {
        String problem = IntegrateValidation.problem(a, b, n);
        if (problem == null) {
            return true;
        }
        if (policy == BadRowPolicy.FAIL) {
            String call = fn + "(a=" + a + ", b=" + b + ", n=" + n + ")";
            throw new InvalidRowException(call, call + ": " + problem);
        }
        return false;
    }
}
