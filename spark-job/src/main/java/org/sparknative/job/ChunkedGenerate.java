package org.sparknative.job;

import java.io.PrintStream;
import java.util.Locale;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.sparknative.spark.RowIds;
import org.sparknative.spark.generate.GenerateTransform;

/**
 * {@code generate --output}: one Spark job per chunk of the input ({@link ChunkPlan}), each written and
 * committed into the output on its own ({@link ChunkedOutput}), so that a killed run keeps its finished
 * chunks and {@code --resume} generates only the rest.
 */
final class ChunkedGenerate {
    /**
     * @param resumedRows rows already in the output, from earlier runs
     * @param chunks      chunks this run committed
     * @param rows        rows this run wrote
     */
    record Outcome(long resumedRows, int chunks, long rows) {
    }

    private ChunkedGenerate() {
    }

    /**
     * Generates and commits the rows of {@code numbered} (from {@link ChunkPlan#numbered}) that {@code out}
     * does not hold yet.
     *
     * @param partitions the partitions each chunk is spread over
     * @param counts     gets each chunk's counters
     * @param log        progress lines: the resume plan, one line per committed chunk
     */
    static Outcome run(Dataset<Row> numbered, ChunkedOutput out, int chunkRows, int partitions,
                       GenerateTransform.Options options, OutputGuard guard, GenerateCounts counts, PrintStream log) {
        ChunkPlan plan = ChunkPlan.of(numbered, out, chunkRows);
        SparkContext sc = numbered.sparkSession().sparkContext();
        long resumed = out.committedRows();
        int total = plan.chunks().size();
        if (out.resuming()) {
            log.printf(Locale.ROOT, "resume: %,d rows already in %s (%d chunk%s); %,d rows to generate in %d chunk%s%n",
                resumed, out.root(), out.committed().size(), out.committed().size() == 1 ? "" : "s",
                plan.remainingRows(), total, total == 1 ? "" : "s");
        }
        int done = 0;
        long rows = 0;
        try {
            for (ChunkedOutput.Committed chunk : plan.chunks()) {
                String name = ChunkedOutput.chunkName(chunk.chunk());
                sc.setJobDescription("generate " + name);
                GenerateTransform.Result res = GenerateTransform.apply(plan.rows(chunk).repartition(partitions), options);
                counts.start(res.counters());
                out.write(chunk, res.output().drop(RowIds.INPUT_ROW), guard);
                counts.finish();
                done++;
                rows += chunk.rows();
                log.printf(Locale.ROOT, "%s committed: input rows %,d-%,d, %,d rows (%d/%d chunks, %,d/%,d rows of this run)%n",
                    name, chunk.firstInputRow(), chunk.lastInputRow(), chunk.rows(), done, total, rows, plan.remainingRows());
            }
            out.finish(guard);
        } finally {
            sc.setJobDescription(null);
            plan.release();
        }
        return new Outcome(resumed, done, rows);
    }
}
