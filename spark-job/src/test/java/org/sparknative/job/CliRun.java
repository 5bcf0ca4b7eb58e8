package org.sparknative.job;

import java.io.PrintWriter;
import java.io.StringWriter;

/**
 * One in-process run of the command line, for tests: its exit code and what it printed on stderr.
 *
 * @param exit the exit code
 * @param err  stderr
 */
record CliRun(int exit, String err) {
    static CliRun of(String... args) {
        StringWriter sw = new StringWriter();
        int code = SparkNativeCli.run(new PrintWriter(sw, true), args);
        return new CliRun(code, sw.toString());
    }
}
