package org.sparknative.job;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits a SQL script into statements at the semicolons that are outside string literals ({@code '...'},
 * {@code "..."}, with backslash escapes; raw {@code r'...'}), quoted identifiers ({@code `...`}) and comments
 * ({@code -- ...} to the end of the line, {@code /* ... *}{@code /}, nested as Spark allows). Statements that
 * are only blanks and comments are dropped. Each statement starts at its first token (leading blanks and
 * comments are cut) and remembers where, so that Spark's positions, which count from the statement's start,
 * can be given in the whole script. An unterminated literal or comment runs to the end and is left to Spark's
 * parser to report.
 *
 * <p>SQL scripting blocks ({@code BEGIN ... END}) hold semicolons of their own and are not supported.
 */
final class SqlStatements {
    private SqlStatements() {
    }

    /**
     * One statement of a script.
     *
     * @param text   the statement, without the semicolon, leading blanks and comments, and trailing ones
     * @param line   the line of the script it starts on, from 1
     * @param column its first character's place in that line, from 0 (as Spark's {@code pos})
     */
    record Statement(String text, int line, int column) {
        /**
         * @return {@code message} with the {@code (line L, pos P)} and {@code line L pos P} positions Spark's
         *         parser and analyzer give, which count from the statement's start, moved to count from the
         *         script's start
         */
        String inScript(String message) {
            if (line == 1 && column == 0) {
                return message;
            }
            Matcher m = POSITION.matcher(message);
            StringBuilder sb = new StringBuilder();
            while (m.find()) {
                boolean parser = m.group(1) != null;
                int l = Integer.parseInt(parser ? m.group(1) : m.group(3));
                int p = Integer.parseInt(parser ? m.group(2) : m.group(4));
                int absLine = line + l - 1;
                int absPos = l == 1 ? column + p : p;
                m.appendReplacement(sb, Matcher.quoteReplacement(parser
                    ? "(line " + absLine + ", pos " + absPos + ")" : "line " + absLine + " pos " + absPos));
            }
            m.appendTail(sb);
            return sb.toString();
        }
    }

    private static final Pattern POSITION = Pattern.compile("\\(line (\\d+), pos (\\d+)\\)|\\bline (\\d+) pos (\\d+)");

    /** @return the statements of {@code script}, in order; empty if it has none */
    static List<Statement> split(String script) {
        List<Statement> out = new ArrayList<>();
        int n = script.length();
        int start = -1; // the current statement's first token, -1 before it
        int end = -1;   // just after its last token
        int i = 0;
        while (i < n) {
            char c = script.charAt(i);
            char next = i + 1 < n ? script.charAt(i + 1) : '\0';
            if (c == '-' && next == '-') {
                i = lineCommentEnd(script, i);
            } else if (c == '/' && next == '*') {
                int e = blockCommentEnd(script, i);
                if (e < 0) { // unterminated: part of the statement, for Spark to report
                    start = start < 0 ? i : start;
                    end = n;
                    i = n;
                } else {
                    i = e;
                }
            } else if (c == ';') {
                if (start >= 0) {
                    out.add(statement(script, start, end));
                }
                start = -1;
                i++;
            } else if (Character.isWhitespace(c)) {
                i++;
            } else {
                if (start < 0) {
                    start = i;
                }
                if (c == '\'' || c == '"') {
                    i = quotedEnd(script, i, c, !isRawPrefix(script, i));
                } else if (c == '`') {
                    i = quotedEnd(script, i, c, false);
                } else {
                    i++;
                }
                end = i;
            }
        }
        if (start >= 0) {
            out.add(statement(script, start, end));
        }
        return out;
    }

    private static Statement statement(String script, int start, int end) {
        int line = 1;
        int lineStart = 0;
        for (int i = 0; i < start; i++) {
            if (script.charAt(i) == '\n') {
                line++;
                lineStart = i + 1;
            }
        }
        return new Statement(script.substring(start, end), line, start - lineStart);
    }

    /** @return the index of the newline ending the {@code --} comment at {@code i} (Spark continues it after a {@code \}), or the end */
    private static int lineCommentEnd(String s, int i) {
        int j = i + 2;
        while (j < s.length()) {
            char c = s.charAt(j);
            if (c == '\\' && j + 1 < s.length() && s.charAt(j + 1) == '\n') {
                j += 2;
            } else if (c == '\n' || c == '\r') {
                return j;
            } else {
                j++;
            }
        }
        return j;
    }

    /** @return the index just after the bracketed comment at {@code i}, nested ones included, or -1 if it is unterminated */
    private static int blockCommentEnd(String s, int i) {
        int depth = 0;
        int j = i;
        while (j + 1 < s.length()) {
            if (s.charAt(j) == '/' && s.charAt(j + 1) == '*') {
                depth++;
                j += 2;
            } else if (s.charAt(j) == '*' && s.charAt(j + 1) == '/') {
                depth--;
                j += 2;
                if (depth == 0) {
                    return j;
                }
            } else {
                j++;
            }
        }
        return -1;
    }

    /** @return the index just after the literal or identifier quoted with {@code quote} at {@code i}, or the end */
    private static int quotedEnd(String s, int i, char quote, boolean backslashEscapes) {
        int j = i + 1;
        while (j < s.length()) {
            char c = s.charAt(j);
            if (backslashEscapes && c == '\\') {
                j += 2;
            } else if (c == quote) {
                return j + 1;
            } else {
                j++;
            }
        }
        return s.length();
    }

    /** @return whether the quote at {@code i} opens a raw string literal, {@code r'...'} or {@code R"..."} */
    private static boolean isRawPrefix(String s, int i) {
        if (i == 0 || Character.toLowerCase(s.charAt(i - 1)) != 'r') {
            return false;
        }
        return i == 1 || !(Character.isLetterOrDigit(s.charAt(i - 2)) || s.charAt(i - 2) == '_');
    }
}
