package org.sparknative.job;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.count;
import static org.apache.spark.sql.functions.expr;
import static org.apache.spark.sql.functions.lit;
import static org.apache.spark.sql.functions.max;
import static org.apache.spark.sql.functions.min;
import static org.apache.spark.sql.functions.not;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.storage.StorageLevel;
import org.sparknative.spark.RowIds;
import org.sparknative.udf.RowLabels;

/**
 * Which input rows a chunked {@code generate} run still has to write, split into chunks of at most
 * {@code --chunk-rows} rows, each a range of input positions.
 *
 * <p>Every row is numbered by its input position ({@value RowIds#INPUT_ROW}, also when the input has an
 * {@code id}). A row is already done when it sits in a committed chunk: by its {@code id} where the input has
 * that column (the ids read back from the output; rows with a null id by position), else by its position
 * (the ranges in the chunks' markers). The remaining rows are grouped into buckets of {@code chunkRows}
 * consecutive input positions, and consecutive buckets into chunks of at most {@code chunkRows} rows: on a
 * fresh run chunk k is input rows {@code k*N+1 .. (k+1)*N}. A chunk is the remaining rows in its range of
 * positions, so which rows it holds depends on their positions only, never on the order Spark computes them.
 */
final class ChunkPlan {
    /** The input's {@code id} while the rows are numbered (so that every row gets a position). */
    private static final String HIDDEN_ID = "_sparknative_id";
    private static final String DONE_ID = "_sparknative_done_id";

    private final Dataset<Row> remaining;
    private final List<ChunkedOutput.Committed> chunks;
    private final long remainingRows;

    private ChunkPlan(Dataset<Row> remaining, List<ChunkedOutput.Committed> chunks) {
        this.remaining = remaining;
        this.chunks = chunks;
        this.remainingRows = chunks.stream().mapToLong(ChunkedOutput.Committed::rows).sum();
    }

    /**
     * @return {@code df} with {@value RowIds#INPUT_ROW}, its rows' 1-based positions as read, whether or not it
     *         has an {@code id} (see {@link RowIds#numbered}, which numbers only rows without one)
     */
    static Dataset<Row> numbered(Dataset<Row> df) {
        List<String> names = Arrays.asList(df.columns());
        if (names.contains(RowIds.INPUT_ROW) || !names.contains(RowIds.ID)) {
            return RowIds.numbered(df);
        }
        return RowIds.numbered(df.withColumnRenamed(RowIds.ID, HIDDEN_ID)).withColumnRenamed(HIDDEN_ID, RowIds.ID);
    }

    /**
     * Plans the rows of {@code numbered} (from {@link #numbered}) that {@code out} does not hold yet. Runs a
     * few small Spark jobs (the ids in the output, the bucket counts); keeps the remaining rows cached until
     * {@link #release()}.
     *
     * @throws IllegalArgumentException when resuming by id and an id appears more than once in the input
     */
    static ChunkPlan of(Dataset<Row> numbered, ChunkedOutput out, int chunkRows) {
        List<ChunkedOutput.Committed> done = out.committed();
        Dataset<Row> remaining = numbered;
        boolean byId = Arrays.asList(numbered.columns()).contains(RowIds.ID);
        if (!done.isEmpty()) {
            Column doneByPosition = inRanges(done);
            if (byId && out.committedRows() > 0) {
                Column id = col(RowIds.ID).cast(DataTypes.StringType);
                List<Row> dup = numbered.where(col(RowIds.ID).isNotNull()).groupBy(col(RowIds.ID)).count()
                    .where(col("count").gt(1)).limit(1).collectAsList();
                if (!dup.isEmpty()) {
                    Object v = dup.get(0).get(0);
                    String label = v instanceof String str ? RowLabels.id(str) : RowLabels.id(((Number) v).longValue());
                    throw new IllegalArgumentException("--resume finds rows in the output by id, but " + label
                        + " appears " + dup.get(0).getLong(1) + " times in the input; make the ids unique, or start over "
                        + "with --overwrite");
                }
                Dataset<Row> ids = out.committedIds(DONE_ID);
                Dataset<Row> withId = numbered.where(col(RowIds.ID).isNotNull())
                    .join(ids, id.equalTo(ids.col(DONE_ID)), "left_anti");
                Dataset<Row> nullId = numbered.where(col(RowIds.ID).isNull().and(not(doneByPosition)));
                remaining = withId.unionByName(nullId);
            } else {
                remaining = numbered.where(not(doneByPosition));
            }
        }
        remaining = remaining.persist(StorageLevel.MEMORY_AND_DISK());
        List<Row> buckets = remaining
            .groupBy(expr(RowIds.INPUT_ROW + " - 1").divide(lit((long) chunkRows)).cast(DataTypes.LongType).as("bucket"))
            .agg(count(lit(1)), min(col(RowIds.INPUT_ROW)), max(col(RowIds.INPUT_ROW)))
            .orderBy("bucket").collectAsList();
        List<ChunkedOutput.Committed> chunks = new ArrayList<>();
        int next = out.nextChunk();
        long rows = 0;
        long first = 0;
        long last = 0;
        for (Row b : buckets) {
            long n = b.getLong(1);
            if (rows > 0 && rows + n > chunkRows) {
                chunks.add(new ChunkedOutput.Committed(next++, rows, first, last, List.of()));
                rows = 0;
            }
            if (rows == 0) {
                first = b.getLong(2);
            }
            last = b.getLong(3);
            rows += n;
        }
        if (rows > 0) {
            chunks.add(new ChunkedOutput.Committed(next, rows, first, last, List.of()));
        } else if (chunks.isEmpty() && done.isEmpty()) {
            // An empty input: one empty chunk, so that the output has the columns (and Spark can read it).
            chunks.add(new ChunkedOutput.Committed(next, 0, 1, 0, List.of()));
        }
        return new ChunkPlan(remaining, List.copyOf(chunks));
    }

    /** True where {@value RowIds#INPUT_ROW} lies in one of the chunks' ranges (merged where they touch). */
    private static Column inRanges(List<ChunkedOutput.Committed> done) {
        List<long[]> ranges = new ArrayList<>();
        done.stream().filter(c -> c.lastInputRow() >= c.firstInputRow())
            .sorted(java.util.Comparator.comparingLong(ChunkedOutput.Committed::firstInputRow))
            .forEach(c -> {
                long[] last = ranges.isEmpty() ? null : ranges.get(ranges.size() - 1);
                if (last != null && c.firstInputRow() <= last[1] + 1) {
                    last[1] = Math.max(last[1], c.lastInputRow());
                } else {
                    ranges.add(new long[] {c.firstInputRow(), c.lastInputRow()});
                }
            });
        Column in = lit(false);
        for (long[] r : ranges) {
            in = in.or(col(RowIds.INPUT_ROW).between(r[0], r[1]));
        }
        return in;
    }

    /** @return the chunks to write, in order */
    List<ChunkedOutput.Committed> chunks() {
        return chunks;
    }

    /** @return the rows to write */
    long remainingRows() {
        return remainingRows;
    }

    /** @return the rows of {@code chunk} (still with {@value RowIds#INPUT_ROW}) */
    Dataset<Row> rows(ChunkedOutput.Committed chunk) {
        return remaining.where(col(RowIds.INPUT_ROW).between(chunk.firstInputRow(), chunk.lastInputRow()));
    }

    /** Drops the cached rows. */
    void release() {
        remaining.unpersist();
    }
}
