package org.sparknative.job;

import static org.apache.spark.sql.functions.col;
import static org.apache.spark.sql.functions.hex;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.apache.spark.sql.AnalysisException;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.catalyst.parser.ParseException;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.NumericType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code spark-native sql}: runs Spark SQL, given as one argument or in a file of statements separated by
 * semicolons ({@link SqlStatements}), over files registered as temporary views ({@code --table name=path}), in
 * a session with the project's SQL functions ({@link Sessions#SQL_EXTENSIONS_CLASS}). The last statement's
 * result is printed as a table or written with {@code --output}; the statements before it run for their effect
 * ({@code CACHE TABLE}, {@code CREATE TEMPORARY VIEW}, {@code SET}, ...).
 *
 * <p>Every statement is parsed before any table is read, and a syntax error is bad usage (exit 2) naming the
 * statement and its place; an analysis error (an unknown table, column or function) fails the run (exit 1), as
 * it comes after the tables' files have been read. A statement containing {@code ${...}} is parsed only when it
 * runs, since an earlier {@code SET} may define the variable.
 */
@Command(name = "sql", mixinStandardHelpOptions = true, sortOptions = false,
    description = {"Run Spark SQL over Parquet, CSV and JSON files, with the project's functions (integrate_f, generate).",
        "The query is one argument, or --file holds statements separated by ';'; the last one's result is printed or "
            + "written to --output."})
final class SqlCommand implements Callable<Integer> {
    /** Rows printed to standard output unless {@code --limit} says otherwise. */
    static final int DEFAULT_STDOUT_LIMIT = 1000;

    /** The narrowest printed column, as {@code Dataset.show}'s. */
    private static final int MIN_WIDTH = 3;

    private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z_][A-Za-z0-9_]*");

    @Spec
    CommandSpec commandSpec;

    @Mixin
    SparkOptions sparkOptions = new SparkOptions();

    @Parameters(arity = "0..*", paramLabel = "QUERY", description = "The SQL to run (quote it as one argument); "
        + "several statements may be separated by ';'.")
    List<String> query = new ArrayList<>();

    @Option(names = "--file", paramLabel = "FILE", description = "Read the SQL from this file (- for standard input) "
        + "instead: statements separated by ';', '--' and /* */ comments allowed.")
    String file;

    @Option(names = "--table", paramLabel = "NAME=PATH", description = "Register the Parquet, CSV (with header) or "
        + "JSON/JSONL file or directory PATH as the temporary view NAME; the format is the file name's (.csv, .json, "
        + ".jsonl, .ndjson, else Parquet), and for a directory its files' (repeatable).")
    List<String> tables = new ArrayList<>();

    @Option(names = "--output", paramLabel = "DIR", description = "Write the result to this directory instead of "
        + "printing it, through Spark's output committer.")
    String output;

    @Option(names = "--format", description = "Output format: parquet|json|csv (default: from the --output name: "
        + ".csv, .json, .jsonl, else parquet).")
    String format;

    @Option(names = "--overwrite", description = "Replace an existing --output directory.")
    boolean overwrite;

    @Option(names = "--limit", paramLabel = "N|all", description = "At most N rows of the result; 'all' for every row "
        + "(default: " + DEFAULT_STDOUT_LIMIT + " printed, with a note on standard error when there are more; all with --output).")
    String limit;

    @Option(names = "--truncate", paramLabel = "N", defaultValue = "0", description = "Cut printed values longer than "
        + "N characters, ending them with '...'; 0 prints them whole (default: ${DEFAULT-VALUE}).")
    int truncate;

    /** A {@code --table}: a view over a file or directory. */
    record Table(String name, String path, DataIO.Format format) {
    }

    @Override
    public Integer call() {
        String source = source();
        List<SqlStatements.Statement> statements = SqlStatements.split(source);
        String where = file == null ? "the query" : "--file " + file;
        if (statements.isEmpty()) {
            throw new UsageException(where + " has no SQL statement");
        }
        Long rowLimit = parseLimit();
        if (truncate < 0) {
            throw new UsageException("--truncate must be >= 0, got " + truncate);
        }
        DataIO.Format outFormat = output == null ? null : format != null
            ? IntegrateJob.usage(() -> DataIO.Format.parse(format)) : DataIO.Format.ofPath(output);
        if (output == null && format != null) {
            throw new UsageException("--format applies to --output; the result is printed as a table without it");
        }
        if (output == null && overwrite) {
            throw new UsageException("--overwrite applies to --output");
        }
        List<Table> views = parseTables();
        for (Table t : views) {
            DataIO.requireLocalExists(t.path(), "--table " + t.name() + "=" + t.path() + ": ");
        }
        try (Sessions.Handle session = Sessions.open("spark-native sql", sparkOptions)) {
            SparkSession spark = session.spark();
            if (output != null) {
                if (views.isEmpty()) {
                    DataIO.checkOutput(spark, null, output, overwrite);
                }
                for (Table t : views) {
                    DataIO.checkOutput(spark, t.path(), output, overwrite);
                }
            }
            checkSyntax(spark, statements);
            OutputGuard guard = OutputGuard.of(spark, output);
            try {
                for (Table t : views) {
                    DataIO.read(spark, t.path(), t.format()).createOrReplaceTempView(t.name());
                }
                Dataset<Row> result = null;
                for (int i = 0; i < statements.size(); i++) {
                    result = run(spark, i, statements);
                }
                if (output != null) {
                    if (result.schema().isEmpty()) {
                        throw new IllegalArgumentException("the last statement returns no columns: nothing to write to --output "
                            + output);
                    }
                    DataIO.write(rowLimit == null ? result : result.limit(Math.toIntExact(rowLimit)), output, outFormat, overwrite);
                    guard.committed();
                    System.out.println("output written to " + output + " (" + outFormat.name().toLowerCase(Locale.ROOT) + ")");
                } else {
                    print(result, rowLimit, truncate);
                }
            } finally {
                guard.close();
                if (!session.owned()) {
                    // A session the command did not create (embedding, tests) outlives it: take its views back.
                    for (Table t : views) {
                        spark.catalog().dropTempView(t.name());
                    }
                }
            }
        }
        return 0;
    }

    /** @return the SQL: the query argument or the file's text */
    private String source() {
        if (file != null && !query.isEmpty()) {
            throw new UsageException("give the SQL as one argument or with --file, not both");
        }
        if (file == null && query.isEmpty()) {
            throw new UsageException("no SQL: give a query, e.g. sql \"SELECT 1\", or --file FILE");
        }
        if (query.size() > 1) {
            throw new UsageException("the SQL must be one argument: quote it, e.g. sql \"" + String.join(" ", query) + "\"");
        }
        if (file == null) {
            return query.get(0);
        }
        try {
            if (file.equals("-")) {
                return new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
            }
            Path p = Path.of(file);
            if (!Files.isRegularFile(p)) {
                throw new UsageException("--file " + file + ": " + (Files.exists(p) ? "not a file" : "no such file"));
            }
            return Files.readString(p, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UsageException("--file " + file + " cannot be read: " + e.getMessage());
        }
    }

    /** @return the {@code --limit} in rows, or null for every row */
    private Long parseLimit() {
        if (limit == null) {
            return output == null ? (long) DEFAULT_STDOUT_LIMIT : null;
        }
        if (limit.trim().equalsIgnoreCase("all")) {
            return null;
        }
        long n;
        try {
            n = Long.parseLong(limit.trim());
        } catch (NumberFormatException e) {
            throw new UsageException("--limit must be a number of rows or 'all', got '" + limit + "'");
        }
        if (n < 0 || n > Integer.MAX_VALUE - 1) {
            throw new UsageException("--limit must be in [0, " + (Integer.MAX_VALUE - 1) + "] or 'all', got " + limit);
        }
        return n;
    }

    /** @return the {@code --table}s, checked: NAME=PATH, NAME an identifier given once, PATH not empty */
    private List<Table> parseTables() {
        Map<String, Table> byName = new LinkedHashMap<>();
        for (String spec : tables) {
            int eq = spec.indexOf('=');
            if (eq < 0) {
                throw new UsageException("--table must be NAME=PATH, got '" + spec + "'");
            }
            String name = spec.substring(0, eq).trim();
            String path = spec.substring(eq + 1).trim();
            if (!IDENTIFIER.matcher(name).matches()) {
                throw new UsageException("--table " + spec + ": the name must be a SQL identifier (letters, digits and _, "
                    + "not starting with a digit), got '" + name + "'");
            }
            if (path.isEmpty()) {
                throw new UsageException("--table " + spec + ": no path after '='");
            }
            Table t = new Table(name, path, formatOf(path));
            if (byName.putIfAbsent(name.toLowerCase(Locale.ROOT), t) != null) {
                throw new UsageException("--table " + name + " is given twice");
            }
        }
        return List.copyOf(byName.values());
    }

    /**
     * @return the format of a table's file from its name ({@link DataIO.Format#ofPath}); for a local directory,
     *         that of the first data file in it (Spark writes {@code part-...json}, {@code part-...csv},
     *         {@code part-....snappy.parquet}), so that the output of {@code --format json} reads back as JSON
     */
    static DataIO.Format formatOf(String path) {
        Path dir = DataIO.localPath(path);
        if (dir != null && Files.isDirectory(dir)) {
            try (Stream<Path> files = Files.list(dir)) {
                return files.map(f -> f.getFileName().toString())
                    .filter(f -> !f.startsWith("_") && !f.startsWith(".") && Files.isRegularFile(dir.resolve(f)))
                    .sorted().findFirst().map(DataIO.Format::ofPath).orElse(DataIO.Format.ofPath(path));
            } catch (IOException e) {
                return DataIO.Format.ofPath(path);
            }
        }
        return DataIO.Format.ofPath(path);
    }

    /**
     * Parses every statement with the session's parser, so that a syntax error anywhere stops the run before any
     * table is read or any statement runs. A statement containing {@code ${...}} is left to {@link #run}: an earlier
     * {@code SET} may define the variable that Spark substitutes.
     *
     * @throws UsageException naming the statement, with Spark's message and its place in the script
     */
    private static void checkSyntax(SparkSession spark, List<SqlStatements.Statement> statements) {
        for (int i = 0; i < statements.size(); i++) {
            SqlStatements.Statement s = statements.get(i);
            if (s.text().contains("${")) {
                continue;
            }
            try {
                spark.sessionState().sqlParser().parsePlan(s.text());
            } catch (Exception e) { // Scala declares no exceptions: ParseException is checked in Java
                if (e instanceof ParseException) {
                    throw failed(new UsageException(prefix(i, statements) + s.inScript(SparkNativeCli.oneLine(e))), e);
                }
                throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
            }
        }
    }

    /**
     * Runs statement {@code i}: Spark runs a command at once, and analyses a query (which runs when its rows are
     * printed or written).
     *
     * @throws UsageException for a syntax error (a statement parsed only now), else an exception naming the
     *                        statement with Spark's message
     */
    private static Dataset<Row> run(SparkSession spark, int i, List<SqlStatements.Statement> statements) {
        SqlStatements.Statement s = statements.get(i);
        try {
            return spark.sql(s.text());
        } catch (Exception e) { // Scala declares no exceptions: AnalysisException is checked in Java
            if (e instanceof ParseException) {
                throw failed(new UsageException(prefix(i, statements) + s.inScript(SparkNativeCli.oneLine(e))), e);
            }
            if (e instanceof AnalysisException a) {
                throw failed(new StatementFailed(prefix(i, statements) + s.inScript(message(a))), e);
            }
            if (statements.size() == 1 && e instanceof RuntimeException r) {
                throw r;
            }
            // A command that failed as it ran (CACHE TABLE over a bad file, ...): Spark's message, as the launcher would give it.
            throw failed(new StatementFailed(prefix(i, statements) + SparkNativeCli.oneLine(SparkNativeCli.userFacingCause(e))), e);
        }
    }

    /**
     * @return the first line of Spark's message for an analysis error, with its place as a parse error gives it,
     *         {@code (line L, pos P)}, and without the plan Spark's {@code getMessage} adds
     */
    static String message(AnalysisException e) {
        String m = e.getSimpleMessage().strip();
        int nl = m.indexOf('\n');
        m = nl < 0 ? m : m.substring(0, nl);
        m = m.replaceFirst(";?\\s*line \\d+ pos \\d+;?$", "");
        if (e.line().isDefined()) {
            m += " (line " + e.line().get() + (e.startPosition().isDefined() ? ", pos " + e.startPosition().get() : "") + ")";
        }
        return m;
    }

    /** @return "statement 2 of 3 (line 5): " where there are several, else "" */
    private static String prefix(int i, List<SqlStatements.Statement> statements) {
        return statements.size() == 1 ? ""
            : "statement " + (i + 1) + " of " + statements.size() + " (line " + statements.get(i).line() + "): ";
    }

    /**
     * @return {@code e} with Spark's exception attached as suppressed, not as its cause: the launcher prints the
     *         message of the innermost cause it knows, which would drop the statement's name and place, while
     *         {@code -Dsparknative.debug=true} still prints Spark's stack trace
     */
    private static RuntimeException failed(RuntimeException e, Throwable spark) {
        e.addSuppressed(spark);
        return e;
    }

    /** A statement failed; the message names it (exit 1). */
    static final class StatementFailed extends RuntimeException {
        private static final long serialVersionUID = 1L;

        StatementFailed(String message) {
            super(message);
        }
    }

    /**
     * Prints {@code result} as a table on standard output (UTF-8): at most {@code limit} rows (all when null),
     * with a note on standard error when there were more. Prints nothing for a result without columns (a
     * command such as {@code CREATE TEMPORARY VIEW}).
     */
    private void print(Dataset<Row> result, Long limit, int truncate) {
        StructType schema = result.schema();
        if (schema.isEmpty()) {
            return;
        }
        Dataset<Row> shown = limit == null ? result : result.limit(Math.toIntExact(limit + 1));
        List<Row> rows = asText(shown).collectAsList();
        boolean more = limit != null && rows.size() > limit;
        if (more) {
            rows = rows.subList(0, Math.toIntExact(limit));
        }
        PrintStream out = new PrintStream(System.out, false, StandardCharsets.UTF_8);
        out.print(render(schema, rows, truncate));
        out.flush();
        if (more) {
            commandSpec.commandLine().getErr().printf(Locale.ROOT, "spark-native sql: showing the first %,d rows; "
                + "--limit N or --limit all for more, or --output DIR to write them all%n", limit);
            commandSpec.commandLine().getErr().flush();
        }
    }

    /** @return {@code df} with every column as Spark's text of it (as {@code CAST(c AS STRING)}; binary as hex) */
    static Dataset<Row> asText(Dataset<Row> df) {
        StructField[] fields = df.schema().fields();
        String[] names = new String[fields.length];
        Column[] cols = new Column[fields.length];
        for (int i = 0; i < fields.length; i++) {
            names[i] = "c" + i;
            cols[i] = fields[i].dataType() instanceof BinaryType ? hex(col(names[i])) : col(names[i]).cast("string");
        }
        // Renamed by position first: a result may repeat a column name, or have one that needs quoting.
        return df.toDF(names).select(cols);
    }

    /**
     * Formats rows of text as a table in the style of {@code Dataset.show}: numeric columns right-aligned, the
     * others left-aligned, {@code NULL} for null. Line breaks, tabs and other control characters are written
     * as {@code \n}, {@code \t}, {@code \u0001} so that each row stays on one line.
     *
     * @param rows     rows of strings (or nulls), one per column of {@code schema}
     * @param truncate cut values longer than this many characters (ending them with {@code ...}); 0 for never
     */
    static String render(StructType schema, List<Row> rows, int truncate) {
        StructField[] fields = schema.fields();
        int cols = fields.length;
        List<String[]> cells = new ArrayList<>();
        String[] header = new String[cols];
        for (int c = 0; c < cols; c++) {
            header[c] = cell(fields[c].name(), truncate);
        }
        for (Row r : rows) {
            String[] line = new String[cols];
            for (int c = 0; c < cols; c++) {
                line[c] = r.isNullAt(c) ? "NULL" : cell(String.valueOf(r.get(c)), truncate);
            }
            cells.add(line);
        }
        int[] width = new int[cols];
        for (int c = 0; c < cols; c++) {
            width[c] = Math.max(MIN_WIDTH, length(header[c]));
            for (String[] line : cells) {
                width[c] = Math.max(width[c], length(line[c]));
            }
        }
        StringBuilder rule = new StringBuilder("+");
        for (int w : width) {
            rule.append("-".repeat(w)).append('+');
        }
        rule.append('\n');
        StringBuilder sb = new StringBuilder();
        sb.append(rule);
        line(sb, header, width, fields);
        sb.append(rule);
        for (String[] line : cells) {
            line(sb, line, width, fields);
        }
        sb.append(rule);
        return sb.toString();
    }

    private static void line(StringBuilder sb, String[] cells, int[] width, StructField[] fields) {
        sb.append('|');
        for (int c = 0; c < cells.length; c++) {
            String pad = " ".repeat(width[c] - length(cells[c]));
            if (isNumeric(fields[c].dataType())) {
                sb.append(pad).append(cells[c]);
            } else {
                sb.append(cells[c]).append(pad);
            }
            sb.append('|');
        }
        sb.append('\n');
    }

    private static boolean isNumeric(DataType t) {
        return t instanceof NumericType;
    }

    private static int length(String s) {
        return s.codePointCount(0, s.length());
    }

    /** @return {@code s} with control characters escaped, cut to {@code truncate} characters if that is > 0 */
    static String cell(String s, int truncate) {
        StringBuilder sb = new StringBuilder(s.length());
        s.codePoints().forEach(cp -> {
            switch (cp) {
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (Character.isISOControl(cp)) {
                        sb.append(String.format(Locale.ROOT, "\\u%04x", cp));
                    } else {
                        sb.appendCodePoint(cp);
                    }
                }
            }
        });
        String t = sb.toString();
        if (truncate > 0 && length(t) > truncate) {
            int keep = Math.max(0, truncate - 3);
            return t.substring(0, t.offsetByCodePoints(0, keep)) + "...".substring(0, Math.min(3, truncate));
        }
        return t;
    }
}
