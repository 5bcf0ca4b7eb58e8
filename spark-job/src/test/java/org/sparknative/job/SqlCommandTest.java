package org.sparknative.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.sparknative.kernels.integrate.IntegrateReference;

/**
 * {@code spark-native sql} in-process, on the shared test session. The queries use Spark's own functions only,
 * so they do not depend on the project's SQL extension being in that session.
 */
class SqlCommandTest {
    private static SparkSession spark;

    @TempDir
    Path tmp;

    @BeforeAll
    static void start() {
        spark = SparkTestSession.get();
    }

    /** One in-process run: its exit code, standard output and standard error. */
    record Run(int exit, String out, String err) {
        String all() {
            return "exit " + exit + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    static Run sql(String... args) {
        return sqlWithInput(null, args);
    }

    static Run sqlWithInput(String stdin, String... args) {
        String[] full = new String[args.length + 1];
        full[0] = "sql";
        System.arraycopy(args, 0, full, 1, args.length);
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream oldOut = System.out;
        InputStream oldIn = System.in;
        CliRun run;
        synchronized (System.class) {
            System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
            if (stdin != null) {
                System.setIn(new ByteArrayInputStream(stdin.getBytes(StandardCharsets.UTF_8)));
            }
            try {
                run = CliRun.of(full);
            } finally {
                System.setOut(oldOut);
                System.setIn(oldIn);
            }
        }
        return new Run(run.exit(), buf.toString(StandardCharsets.UTF_8), run.err());
    }

    /** Writes rows (a INT, b DOUBLE, s STRING) as Parquet to {@code dir}. */
    private Path abParquet(String name) {
        StructType schema = new StructType().add("a", DataTypes.IntegerType).add("b", DataTypes.DoubleType)
            .add("s", DataTypes.StringType);
        List<Row> rows = List.of(RowFactory.create(1, 0.5, "one"), RowFactory.create(2, 1.25, "two; or \"2\""),
            RowFactory.create(3, -4.0, null));
        Path dir = tmp.resolve(name);
        spark.createDataFrame(rows, schema).coalesce(1).write().parquet(dir.toString());
        return dir;
    }

    // ---- results

    @Test
    void positionalQueryOverParquetPrintsEveryRowAsATable() {
        Path t = abParquet("t.parquet");
        Run r = sql("--table", "t=" + t, "SELECT a, a + b AS total, s FROM t ORDER BY a");
        assertEquals(0, r.exit(), r.all());
        assertEquals(String.join("\n",
            "+---+-----+-----------+",
            "|  a|total|s          |",
            "+---+-----+-----------+",
            "|  1|  1.5|one        |",
            "|  2| 3.25|two; or \"2\"|",
            "|  3| -1.0|NULL       |",
            "+---+-----+-----------+", ""), r.out());
        assertFalse(spark.catalog().tableExists("t"), "the command's view is dropped from a session it did not create");
    }

    @Test
    void csvTableWithTypesInferred() throws Exception {
        Path csv = tmp.resolve("points.csv");
        Files.writeString(csv, "id,x,label\n1,2.5,\"a, quoted\"\n2,4.0,plain\n3,10.0,\"multi\nline\"\n");
        Run r = sql("--table", "points=" + csv, "SELECT id * 10 AS id10, x * 2 AS x2, label FROM points ORDER BY id");
        assertEquals(0, r.exit(), r.all());
        assertEquals(String.join("\n",
            "+----+----+-----------+",
            "|id10|  x2|label      |",
            "+----+----+-----------+",
            "|  10| 5.0|a, quoted  |",
            "|  20| 8.0|plain      |",
            "|  30|20.0|multi\\nline|",
            "+----+----+-----------+", ""), r.out());
    }

    @Test
    void fileOfStatementsRunsEachAndPrintsTheLast() throws Exception {
        Path t = abParquet("t.parquet");
        Path q = tmp.resolve("q.sql");
        Files.writeString(q, String.join("\n",
            "-- the view is cached; ';' in comments and strings does not split",
            "CACHE TABLE ab;",
            "/* a /* nested */ comment; */",
            "CREATE OR REPLACE TEMPORARY VIEW ab_big AS SELECT a, b, s FROM ab WHERE b > 0 OR s = 'x;y';",
            "",
            "SELECT a, b * 2 AS b2, concat(s, ';') AS s  -- the result",
            "FROM ab_big ORDER BY a;",
            "-- a trailing comment, no statement",
            ""));
        try {
            Run r = sql("--table", "ab=" + t, "--file", q.toString());
            assertEquals(0, r.exit(), r.all());
            assertEquals(String.join("\n",
                "+---+---+------------+",
                "|  a| b2|s           |",
                "+---+---+------------+",
                "|  1|1.0|one;        |",
                "|  2|2.5|two; or \"2\";|",
                "+---+---+------------+", ""), r.out());
        } finally {
            spark.catalog().dropTempView("ab_big");
        }
        assertFalse(spark.catalog().tableExists("ab"));
    }

    @Test
    void sqlFromStandardInput() {
        Run r = sqlWithInput("SELECT 6 * 7 AS answer;\n", "--file", "-");
        assertEquals(0, r.exit(), r.all());
        assertEquals("+------+\n|answer|\n+------+\n|    42|\n+------+\n", r.out());
    }

    @Test
    void outputParquetReadsBackWithTheValues() {
        Path t = abParquet("t.parquet");
        Path out = tmp.resolve("out");
        Run r = sql("--table", "t=" + t, "--output", out.toString(), "SELECT a, a * b AS ab, upper(s) AS s FROM t");
        assertEquals(0, r.exit(), r.all());
        assertTrue(r.out().contains("output written to " + out + " (parquet)"), r.all());
        List<Row> rows = spark.read().parquet(out.toString()).orderBy("a").collectAsList();
        assertEquals(3, rows.size());
        assertEquals(List.of(1, 0.5, "ONE"), List.of(rows.get(0).getInt(0), rows.get(0).getDouble(1), rows.get(0).getString(2)));
        assertEquals(2.5, rows.get(1).getDouble(1));
        assertEquals(-12.0, rows.get(2).getDouble(1));
        assertTrue(rows.get(2).isNullAt(2));

        // An existing output is refused without --overwrite, and replaced with it.
        Run again = sql("--table", "t=" + t, "--output", out.toString(), "SELECT 1 AS one");
        assertEquals(1, again.exit(), again.all());
        assertTrue(again.err().contains("already exists; add --overwrite"), again.all());
        assertEquals(0, sql("--output", out.toString(), "--overwrite", "SELECT 1 AS one").exit());
        assertEquals(List.of("one"), List.of(spark.read().parquet(out.toString()).columns()));

        // The output may not be the input.
        Run onInput = sql("--table", "t=" + t, "--output", t.toString(), "--overwrite", "SELECT * FROM t");
        assertEquals(2, onInput.exit(), onInput.all());
        assertTrue(onInput.err().contains("is the input"), onInput.all());
    }

    @Test
    void outputFormatFromTheNameAndJsonDirectoryReadsBackAsJson() {
        Path out = tmp.resolve("squares.jsonl");
        Run r = sql("--output", out.toString(), "SELECT id, id * id AS sq FROM range(4)");
        assertEquals(0, r.exit(), r.all());
        assertTrue(r.out().contains("(json)"), r.all());
        assertEquals(4, spark.read().json(out.toString()).count());

        // A directory is read in the format of its files, whatever its name.
        Path renamed = tmp.resolve("squares");
        assertTrue(out.toFile().renameTo(renamed.toFile()));
        assertEquals(DataIO.Format.JSON, SqlCommand.formatOf(renamed.toString()));
        Run back = sql("--table", "sq=" + renamed, "SELECT sum(sq) AS total FROM sq");
        assertEquals(0, back.exit(), back.all());
        assertTrue(back.out().contains("|   14|"), back.all());
    }

    @Test
    void limitCutsThePrintedRowsWithANote() {
        Run three = sql("--limit", "3", "SELECT id FROM range(10) ORDER BY id");
        assertEquals(0, three.exit(), three.all());
        assertEquals("+---+\n| id|\n+---+\n|  0|\n|  1|\n|  2|\n+---+\n", three.out());
        assertTrue(three.err().contains("showing the first 3 rows"), three.all());

        Run fits = sql("--limit", "10", "SELECT id FROM range(10)");
        assertFalse(fits.err().contains("showing"), fits.all());

        // The default shows 1,000 rows; 'all' every row.
        Run deflt = sql("SELECT id FROM range(1001)");
        assertEquals(1000 + 4, deflt.out().lines().count(), deflt.err());
        assertTrue(deflt.err().contains("showing the first 1,000 rows"), deflt.err());
        Run all = sql("--limit", "all", "SELECT id FROM range(1001)");
        assertEquals(1001 + 4, all.out().lines().count());
        assertFalse(all.err().contains("showing"), all.err());

        // With --output, --limit applies to the rows written.
        Path out = tmp.resolve("five");
        assertEquals(0, sql("--output", out.toString(), "--limit", "5", "SELECT id FROM range(100)").exit());
        assertEquals(5, spark.read().parquet(out.toString()).count());
    }

    /**
     * {@code integrate_f} through the command, where the session has it: from the project's SQL extension once the
     * test session is created with it, or from the UDF an in-process {@code integrate} run registered.
     */
    @Test
    void integrateFOverParquetWhereTheSessionHasIt() {
        Assumptions.assumeTrue(spark.catalog().functionExists("integrate_f"), "integrate_f is not in the test session");
        StructType schema = new StructType().add("a", DataTypes.DoubleType).add("b", DataTypes.DoubleType)
            .add("n", DataTypes.IntegerType);
        List<Row> rows = List.of(RowFactory.create(0.0, 1.0, 100), RowFactory.create(-1.5, 2.0, 7),
            RowFactory.create(0.25, 0.5, 20000));
        Path in = tmp.resolve("rows.parquet");
        spark.createDataFrame(rows, schema).write().parquet(in.toString());
        Path out = tmp.resolve("x");
        Run r = sql("--table", "r=" + in, "--output", out.toString(), "SELECT a, b, n, integrate_f(a, b, n) AS x FROM r");
        assertEquals(0, r.exit(), r.all());
        List<Row> back = spark.read().parquet(out.toString()).collectAsList();
        assertEquals(3, back.size());
        for (Row row : back) {
            assertTrue(IntegrateReference.relativeError(row.getDouble(3), row.getDouble(0), row.getDouble(1), row.getInt(2))
                < 1e-11, row.toString());
        }
    }

    @Test
    void commandWithoutResultPrintsNothing() {
        Run r = sql("CREATE OR REPLACE TEMPORARY VIEW sql_cmd_noop AS SELECT 1 AS x");
        try {
            assertEquals(0, r.exit(), r.all());
            assertEquals("", r.out());
        } finally {
            spark.catalog().dropTempView("sql_cmd_noop");
        }
    }

    @Test
    void renderAlignsEscapesAndTruncates() {
        StructType schema = new StructType().add("n", DataTypes.LongType).add("text", DataTypes.StringType);
        List<Row> rows = List.of(RowFactory.create("7", "tab\there\nand é"), RowFactory.create(null, "0123456789"));
        assertEquals(String.join("\n",
            "+----+----------------+",
            "|   n|text            |",
            "+----+----------------+",
            "|   7|tab\\there\\nand é|",
            "|NULL|0123456789      |",
            "+----+----------------+", ""), SqlCommand.render(schema, rows, 0));
        assertEquals(String.join("\n",
            "+----+------+",
            "|   n|text  |",
            "+----+------+",
            "|   7|tab...|",
            "|NULL|012...|",
            "+----+------+", ""), SqlCommand.render(schema, rows, 6));
        assertEquals("\\u0001x", SqlCommand.cell("\u0001x", 0));
    }

    @Test
    void duplicateAndBinaryColumnsPrint() {
        Run r = sql("SELECT 1 AS x, 2 AS x, CAST('AB' AS BINARY) AS bin, array(1, 2) AS arr, map('k', 1.5) AS m");
        assertEquals(0, r.exit(), r.all());
        assertTrue(r.out().contains("|  1|  2|4142|[1, 2]|{k -> 1.5}|"), r.all());
    }

    // ---- errors

    @Test
    void usageErrorsExitTwoWithOneLine() throws Exception {
        Path t = abParquet("t.parquet");
        Path q = tmp.resolve("q.sql");
        Files.writeString(q, "SELECT 1");
        assertUsage(sql(), "no SQL: give a query");
        assertUsage(sql("--file", q.toString(), "SELECT 1"), "not both");
        assertUsage(sql("SELECT", "1"), "the SQL must be one argument: quote it");
        assertUsage(sql("--file", tmp.resolve("none.sql").toString()), "--file " + tmp.resolve("none.sql") + ": no such file");
        assertUsage(sql(" ; -- nothing\n"), "the query has no SQL statement");
        assertUsage(sql("--table", t.toString(), "SELECT 1"), "--table must be NAME=PATH, got '" + t + "'");
        assertUsage(sql("--table", "1t=" + t, "SELECT 1"), "the name must be a SQL identifier");
        assertUsage(sql("--table", "my-t=" + t, "SELECT 1"), "got 'my-t'");
        assertUsage(sql("--table", "t=", "SELECT 1"), "no path after '='");
        assertUsage(sql("--table", "t=" + t, "--table", "T=" + t, "SELECT 1"), "--table T is given twice");
        assertUsage(sql("--limit", "-1", "SELECT 1"), "--limit must be in [0,");
        assertUsage(sql("--limit", "many", "SELECT 1"), "--limit must be a number of rows or 'all', got 'many'");
        assertUsage(sql("--truncate", "-2", "SELECT 1"), "--truncate must be >= 0");
        assertUsage(sql("--format", "json", "SELECT 1"), "--format applies to --output");
        assertUsage(sql("--output", tmp.resolve("o").toString(), "--format", "xml", "SELECT 1"), "format must be parquet, json or csv");
        assertEquals(2, sql("--no-such-option", "SELECT 1").exit());
    }

    @Test
    void missingTablePathExitsOneNamingIt() {
        Path none = tmp.resolve("nope.csv");
        Run r = sql("--table", "t=" + none, "SELECT * FROM t");
        assertEquals(1, r.exit(), r.all());
        assertTrue(r.err().contains("--table t=" + none + ": input not found: " + none), r.all());
        assertEquals(1, errorLines(r), r.all());
    }

    @Test
    void syntaxErrorIsUsageNamingThePlace() {
        Run r = sql("SELECT 1 AS one FORM range(1)");
        assertEquals(2, r.exit(), r.all());
        assertTrue(r.err().startsWith("spark-native sql: error: [PARSE_SYNTAX_ERROR] Syntax error at or near 'FORM'"), r.all());
        assertTrue(r.err().contains("(line 1, pos 16)"), r.all());
        assertEquals(1, errorLines(r), r.all());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.all());
    }

    @Test
    void syntaxErrorInALaterStatementRunsNothing() throws Exception {
        Path q = tmp.resolve("bad.sql");
        Files.writeString(q, "CREATE TEMPORARY VIEW sql_cmd_never AS SELECT 1 AS x;\n\n-- the second\nSELECT x\n  FROM sql_cmd_never WHERE x =;\n");
        Run r = sql("--file", q.toString());
        assertEquals(2, r.exit(), r.all());
        // Spark's position counts from the statement's start; the message gives it in the file.
        assertTrue(r.err().contains("statement 2 of 2 (line 4): [PARSE_SYNTAX_ERROR]"), r.all());
        assertTrue(r.err().contains("Syntax error at or near end of input") && r.err().contains("(line 5, pos 30)"), r.all());
        boolean ran = spark.catalog().tableExists("sql_cmd_never");
        spark.catalog().dropTempView("sql_cmd_never");
        assertFalse(ran, "the first statement must not have run");
    }

    @Test
    void analysisErrorsExitOneWithSparksMessage() throws Exception {
        Path t = abParquet("t.parquet");
        Run col = sql("--table", "t=" + t, "SELECT nope FROM t");
        assertEquals(1, col.exit(), col.all());
        assertTrue(col.err().startsWith("spark-native sql: error: [UNRESOLVED_COLUMN"), col.all());
        assertTrue(col.err().contains("`nope`") && col.err().contains("SQLSTATE: 42703 (line 1, pos 7)"), col.all());
        assertEquals(1, errorLines(col), col.all());

        Run table = sql("SELECT * FROM no_such_table");
        assertEquals(1, table.exit(), table.all());
        assertTrue(table.err().contains("[TABLE_OR_VIEW_NOT_FOUND] The table or view `no_such_table` cannot be found.")
            && table.err().contains("(line 1, pos 14)"), table.all());
        assertEquals(1, errorLines(table), table.all());

        Path q = tmp.resolve("q.sql");
        Files.writeString(q, "SET spark.sql.shuffle.partitions=4;\nSELECT 1 AS one,\n       no_such_fn(2);");
        Run fn = sql("--file", q.toString());
        assertEquals(1, fn.exit(), fn.all());
        assertTrue(fn.err().contains("statement 2 of 2 (line 2): [UNRESOLVED_ROUTINE]"), fn.all());
        assertTrue(fn.err().contains("(line 3, pos 7)"), fn.all());
    }

    @Test
    void runtimeErrorExitsOne() {
        Run r = sql("SELECT CAST(id AS INT) / (id - 1) AS q FROM range(3)");
        assertEquals(1, r.exit(), r.all());
        assertTrue(r.err().contains("DIVIDE_BY_ZERO"), r.all());
        assertFalse(r.err().contains("Job aborted"), r.all());
    }

    private static void assertUsage(Run r, String message) {
        assertEquals(2, r.exit(), r.all());
        assertTrue(r.err().startsWith("spark-native sql: error: "), r.all());
        assertTrue(r.err().contains(message), "expected '" + message + "' in: " + r.all());
    }

    /** @return the lines of stderr, the hint to the stack trace aside */
    private static long errorLines(Run r) {
        return r.err().lines().filter(l -> !l.startsWith("(")).count();
    }

    // ---- the statement splitter

    @Test
    void splitterKeepsSemicolonsInLiteralsIdentifiersAndComments() {
        List<SqlStatements.Statement> s = SqlStatements.split(String.join("\n",
            "SELECT 'a;b', \"c;d\", 'it\\'s; x', `we;ird``s` FROM t; -- x; y",
            "  /* block; /* nested; */ still; */ SELECT r'C:\\' AS raw, ';' AS semi ;",
            ";;",
            "SELECT 1 -- tail; comment",
            "/* trailing */"));
        assertEquals(3, s.size(), s.toString());
        assertEquals("SELECT 'a;b', \"c;d\", 'it\\'s; x', `we;ird``s` FROM t", s.get(0).text());
        assertEquals(new SqlStatements.Statement("SELECT r'C:\\' AS raw, ';' AS semi", 2, 36), s.get(1));
        assertEquals(new SqlStatements.Statement("SELECT 1", 4, 0), s.get(2));
    }

    @Test
    void splitterKeepsInnerCommentsAndHintsAndLeavesUnterminatedOnesToSpark() {
        assertEquals(List.of("SELECT /*+ BROADCAST(t) */ a -- x;\nFROM t"),
            texts(SqlStatements.split("SELECT /*+ BROADCAST(t) */ a -- x;\nFROM t;")));
        assertEquals(List.of("SELECT 1", "SELECT 'open; string"), texts(SqlStatements.split("SELECT 1; SELECT 'open; string")));
        assertEquals(List.of("SELECT 1 /* open; comment"), texts(SqlStatements.split("SELECT 1 /* open; comment")));
        assertEquals(List.of("SELECT 2"), texts(SqlStatements.split("-- continued \\\n; still a comment\nSELECT 2")));
        assertEquals(List.of(), texts(SqlStatements.split("  ;\n -- only comments\n /* here */ ;")));
        assertEquals(List.of("SELECT a", "b"), texts(SqlStatements.split("SELECT a;b")));
    }

    @Test
    void positionsAreMovedFromTheStatementToTheScript() {
        SqlStatements.Statement s = new SqlStatements.Statement("SELECT x", 4, 6);
        assertEquals("[E] at 'x'. (line 4, pos 13)", s.inScript("[E] at 'x'. (line 1, pos 7)"));
        assertEquals("[E] x; line 5 pos 2;", s.inScript("[E] x; line 2 pos 2;"));
        assertEquals("[E] (line 1, pos 7)", new SqlStatements.Statement("x", 1, 0).inScript("[E] (line 1, pos 7)"));
    }

    private static List<String> texts(List<SqlStatements.Statement> s) {
        return s.stream().map(SqlStatements.Statement::text).toList();
    }

    // ---- the session's SQL extension

    @Test
    void extensionIsAppendedOnceAfterTheUsersOwn() {
        String ext = Sessions.SQL_EXTENSIONS_CLASS;
        assertEquals("org.sparknative.spark.sql.SparkNativeExtensions", ext);
        assertEquals(ext, Sessions.withExtension(""));
        assertEquals(ext, Sessions.withExtension("  "));
        assertEquals("com.example.Ext," + ext, Sessions.withExtension("com.example.Ext"));
        assertEquals("a.A,b.B," + ext, Sessions.withExtension("a.A,b.B "));
        assertEquals("com.example.Ext, " + ext, Sessions.withExtension("com.example.Ext, " + ext));
        assertEquals(ext + ",com.example.Ext", Sessions.withExtension(ext + ",com.example.Ext"));
    }
}
