package org.sparknative.job;

import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;

/**
 * The Spark Connect client of {@link SparkConnectTest}, in a child JVM whose class path is the Connect JVM client and
 * not Spark's engine. It uses only the API every Spark client has ({@code spark-sql-api}: {@link SparkSession},
 * {@link Row}, {@link functions}), so it compiles against the test classpath and runs on the client's copy of it.
 *
 * <p>Arguments: the {@code sc://} URL, then commands, each one argument: {@code sql <label> <query>} (collects the
 * query's rows), {@code call <label> <function>:<column>,<column>,... <parquet path>} (the DataFrame API: the
 * file's {@code id} and {@code functions.call_function} of the columns, by {@code id}) or
 * {@code set <label> <key>=<value>} (a session setting). Output on stdout, one line each: {@code
 * SESSION <class>}, then per command {@code OK <label>}, {@code ROW <label> <cells>} for each row, or
 * {@code ERROR <label> <message>}, and finally {@code END}. Cells, separated by spaces: {@code null},
 * {@code d:<the double's raw bits in hex>} (exact), {@code i:<int>}, {@code l:<long>}, or
 * {@code s:<base64 of the UTF-8 string>}; messages are base64 too.
 */
public final class ConnectClientMain {
    private ConnectClientMain() {
    }

    public static void main(String[] args) {
        ExitWithParent.watchStdin();
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        SparkSession spark = SparkSession.builder().remote(args[0]).getOrCreate();
        out.println("SESSION " + spark.getClass().getName());
        for (int i = 1; i < args.length; i++) {
            String[] cmd = args[i].split(" ", 3);
            String label = cmd[1];
            try {
                if (cmd[0].equals("set")) {
                    int eq = cmd[2].indexOf('=');
                    spark.conf().set(cmd[2].substring(0, eq), cmd[2].substring(eq + 1));
                } else if (cmd[0].equals("sql") || cmd[0].equals("call")) {
                    List<Row> rows = (cmd[0].equals("sql") ? spark.sql(cmd[2]) : call(spark, cmd[2])).collectAsList();
                    for (Row r : rows) {
                        out.println("ROW " + label + " " + cells(r));
                    }
                } else {
                    throw new IllegalArgumentException("unknown command " + args[i]);
                }
                out.println("OK " + label);
            } catch (Exception e) { // AnalysisException is a checked exception
                out.println("ERROR " + label + " " + base64(String.valueOf(e.getMessage())));
            }
        }
        out.println("END");
        // No spark.stop(): releasing a session makes the server load Spark ML classes (ml.util.ConnectHelper), which
        // the test's server does not have (a warning with a stack trace here, nothing else); the test stops it next.
        System.exit(0);
    }

    private static Dataset<Row> call(SparkSession spark, String spec) {
        String[] f = spec.split(" ", 2);
        String[] fn = f[0].split(":", 2);
        Column[] args = Arrays.stream(fn[1].split(",")).map(functions::col).toArray(Column[]::new);
        return spark.read().parquet(f[1]).select(functions.col("id"), functions.call_function(fn[0], args)).orderBy("id");
    }

    private static String cells(Row r) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < r.length(); i++) {
            if (i > 0) {
                s.append(' ');
            }
            Object v = r.get(i);
            if (v == null) {
                s.append("null");
            } else if (v instanceof Double d) {
                s.append("d:").append(Long.toHexString(Double.doubleToRawLongBits(d)));
            } else if (v instanceof Integer n) {
                s.append("i:").append(n);
            } else if (v instanceof Long n) {
                s.append("l:").append(n);
            } else if (v instanceof String str) {
                s.append("s:").append(base64(str));
            } else {
                throw new IllegalArgumentException("unexpected " + v.getClass().getName() + " in " + r);
            }
        }
        return s.toString();
    }

    private static String base64(String s) {
        return Base64.getEncoder().encodeToString(s.getBytes(StandardCharsets.UTF_8));
    }
}
