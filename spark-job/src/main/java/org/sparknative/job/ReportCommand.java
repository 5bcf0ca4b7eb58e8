package org.sparknative.job;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.sparknative.job.report.BenchReport;
import org.sparknative.job.report.Comparison;
import org.sparknative.job.report.ReportBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code spark-native report}: builds {@code report.html} and {@code report.md} (and an indented copy of
 * {@code report.json}) from a {@code bench} run's {@code report.json}, optionally compared with an older run's. No
 * Spark session; see {@link ReportBuilder}.
 */
@Command(name = "report", mixinStandardHelpOptions = true, sortOptions = false,
    description = "Builds report.html and report.md from a bench run's report.json, optionally compared with an older"
        + " run (no Spark needed).")
final class ReportCommand implements Callable<Integer> {
    @Option(names = "--from", required = true, paramLabel = "REPORT.json", description = "The run's report.json.")
    Path from;

    @Option(names = "--out", required = true, paramLabel = "DIR",
        description = "Folder to write report.json, report.html and report.md into (created if missing).")
    Path out;

    @Option(names = "--baseline", paramLabel = "OLD.json", description = "An older run's report.json to compare with;"
        + " replaces any baseline the report holds.")
    Path baseline;

    @Override
    public Integer call() {
        requireFile("--from", from);
        if (baseline != null) {
            requireFile("--baseline", baseline);
        }
        if (Files.exists(out) && !Files.isDirectory(out)) {
            throw new UsageException("--out " + out + " is not a folder");
        }
        BenchReport report = ReportBuilder.read(from);
        if (baseline != null) {
            report = report.withBaseline(Comparison.baselineOf(ReportBuilder.read(baseline), baseline.toString()));
        }
        List<Path> written = ReportBuilder.write(report, out);
        if (report.baseline() != null) {
            System.out.println("compared with " + report.baseline().source() + ": " + Comparison.of(report).summary());
        }
        written.forEach(p -> System.out.println("wrote " + p));
        return 0;
    }

    private static void requireFile(String option, Path file) {
        if (!Files.exists(file)) {
            throw new UsageException(option + " " + file + ": no such file");
        }
        if (!Files.isRegularFile(file)) {
            throw new UsageException(option + " " + file + " is not a file");
        }
    }
}
