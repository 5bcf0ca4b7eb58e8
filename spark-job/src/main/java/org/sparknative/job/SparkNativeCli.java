package org.sparknative.job;

import java.io.PrintWriter;
import org.apache.spark.sql.AnalysisException;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code spark-native} command line: {@code bin/spark-native <command> [options]}, or
 * {@code spark-submit --class org.sparknative.job.SparkNativeCli spark-native-job.jar <command> [options]}.
 *
 * <p>Exit codes: 0 success, 1 the job failed (bad input data, a Spark failure), 2 bad usage.
 */
@Command(name = "spark-native", mixinStandardHelpOptions = true, version = "spark-native 0.1.0",
    description = "Distributed batch inference on Apache Spark with native kernels.",
    subcommands = {IntegrateJob.class, GenerateJob.class, SqlCommand.class, BenchCommand.class, BenchGenerateCommand.class,
        ReportCommand.class, QuantizeCommand.class, CommandLine.HelpCommand.class})
public final class SparkNativeCli {

    /** Runs the command line and exits the JVM with its code. */
    public static void main(String[] args) {
        int code = run(args);
        String log = logFile();
        if (code == 0 && log != null) {
            System.out.println("log: " + log);
        }
        System.exit(code);
    }

    /** @return the log file the launcher routes Spark's and the tasks' logs to, if it exists */
    static String logFile() {
        String log = System.getProperty("sparknative.log");
        return log != null && java.nio.file.Files.isRegularFile(java.nio.file.Path.of(log)) ? log : null;
    }

    /** Runs the command line and returns its exit code (for tests and embedding). */
    public static int run(String... args) {
        return run(null, args);
    }

    /**
     * Runs the command line with error messages going to {@code err} (standard error when null) and
     * returns its exit code.
     */
    public static int run(PrintWriter err, String... args) {
        CommandLine cl = new CommandLine(new SparkNativeCli());
        if (err != null) {
            cl.setErr(err);
        }
        cl.setExecutionExceptionHandler(SparkNativeCli::handle);
        return cl.execute(args);
    }

    private static int handle(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
        PrintWriter err = cl.getErr();
        Throwable root = userFacingCause(e);
        err.println("spark-native " + cl.getCommandName() + ": error: " + oneLine(root));
        if (root instanceof UsageException) {
            err.flush();
            return 2;
        }
        if (Boolean.getBoolean("sparknative.debug")) {
            e.printStackTrace(err);
        } else if (logFile() != null) {
            err.println("(details and stack traces: " + logFile() + ")");
        } else {
            err.println("(set -Dsparknative.debug=true for the stack trace)");
        }
        err.flush();
        return 1;
    }

    /**
     * @return the first line of {@code t}'s message, without Spark's "Job aborted due to stage failure: ...
     *         Lost task ...:" preamble (the task's own message follows it) and without a remote stack trace
     */
    static String oneLine(Throwable t) {
        // stripLeading: Spark's ParseException message starts with a line break.
        String m = String.valueOf(t.getMessage()).stripLeading();
        m = m.replaceFirst("(?s)^Job aborted due to stage failure: .*?most recent failure: Lost task [^)]*\\)[^)]*\\): ", "");
        int nl = m.indexOf('\n');
        return nl < 0 ? m : m.substring(0, nl);
    }

    /** The innermost exception whose message a user can act on (ours, or Spark's analysis errors). */
    static Throwable userFacingCause(Throwable e) {
        Throwable best = e;
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof IllegalArgumentException || t instanceof AnalysisException
                || t instanceof java.io.UncheckedIOException || t instanceof java.io.IOException) {
                best = t;
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return best;
    }
}
