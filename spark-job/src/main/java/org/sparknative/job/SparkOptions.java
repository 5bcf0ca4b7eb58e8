package org.sparknative.job;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine.Option;

/**
 * The Spark options every job takes: where it runs, extra settings, files to ship to the executors, and
 * the event log. {@link Sessions} turns them into the job's session.
 */
final class SparkOptions {
    @Option(names = "--master", description = "Spark master URL: local[N], spark://host:7077, yarn, k8s://... "
        + "(default: spark-submit's, else conf/spark-defaults.conf, else local[*]).")
    String master;

    @Option(names = "--conf", description = "Extra Spark setting key=value (repeatable).")
    Map<String, String> conf = new LinkedHashMap<>();

    @Option(names = "--files", split = ",", description = "Files to ship to every executor (spark.files), such as "
        + "a model and its tokenizer; then name them by file name in --model and --tokenizer.")
    List<String> files;

    @Option(names = "--event-log", description = "Write Spark's event log to this directory (local path or Hadoop "
        + "URI), for Spark's History Server.")
    String eventLog;
}
