package org.sparknative.spark.sql;

import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.catalyst.expressions.Cast;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.Literal;
import org.apache.spark.sql.catalyst.expressions.NamedArgumentExpression;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.IntegerType;
import org.apache.spark.sql.types.IntegralType;
import org.apache.spark.sql.types.LongType;
import org.apache.spark.sql.types.NullType;
import org.apache.spark.sql.types.NumericType;
import scala.Option;

/**
 * A SQL call's arguments matched to its parameters: positional ones first, in order, then named ones
 * ({@code name => value}, Spark's named-argument syntax). Every problem is an analysis error naming the
 * function and the argument: an unknown or repeated name, a positional argument after a named one, a
 * missing required argument, too many arguments, a wrong type or a bad constant.
 */
final class SqlArguments {
    private final String function;
    private final List<String> params;
    private final Expression[] values;

    private SqlArguments(String function, List<String> params, Expression[] values) {
        this.function = function;
        this.params = params;
        this.values = values;
    }

    /**
     * @param required how many of {@code params} (the first ones) must be given
     */
    static SqlArguments match(String function, List<String> params, int required, List<Expression> args) {
        Expression[] values = new Expression[params.size()];
        boolean named = false;
        int position = 0;
        for (Expression arg : args) {
            if (arg instanceof NamedArgumentExpression n) {
                named = true;
                int i = params.indexOf(n.key().toLowerCase(java.util.Locale.ROOT));
                if (i < 0) {
                    throw error(function + "(): unknown argument '" + n.key() + "'; it takes " + String.join(", ", params));
                }
                if (values[i] != null) {
                    throw error(function + "(): argument '" + params.get(i) + "' is given twice");
                }
                values[i] = n.value();
            } else {
                if (named) {
                    throw error(function + "(): a positional argument cannot follow named ones (" + arg.sql() + ")");
                }
                if (position >= params.size()) {
                    throw error(function + "(): takes at most " + params.size() + " arguments (" + String.join(", ", params)
                        + "), got " + args.size());
                }
                values[position++] = arg;
            }
        }
        for (int i = 0; i < required; i++) {
            if (values[i] == null) {
                throw error(function + "(): missing argument '" + params.get(i) + "'; it takes " + String.join(", ", params)
                    + " (the first " + required + " required)");
            }
        }
        return new SqlArguments(function, params, values);
    }

    /** @return the argument {@code name}, or null if not given */
    Expression get(String name) {
        return values[params.indexOf(name)];
    }

    /** @return the argument as DOUBLE: a numeric argument cast to it, a NULL literal typed */
    Expression asDouble(String name) {
        return numeric(name, DataTypes.DoubleType, "numeric (DOUBLE)");
    }

    /** @return the argument as FLOAT, or a typed NULL where it is not given */
    Expression asFloat(String name) {
        return numeric(name, DataTypes.FloatType, "numeric (FLOAT)");
    }

    private Expression numeric(String name, DataType to, String what) {
        Expression e = get(name);
        if (e == null) {
            return Literal.create(null, to);
        }
        DataType t = e.dataType();
        if (t instanceof NullType) {
            return Literal.create(null, to);
        }
        if (!(t instanceof NumericType)) {
            throw typeError(name, what, e);
        }
        return t.equals(to) ? e : cast(e, to);
    }

    /**
     * @param wide whether BIGINT is kept as it is (else cast to INT, failing on overflow under ANSI)
     * @return the argument as INT (TINYINT, SMALLINT cast) or BIGINT, or a typed NULL where it is not given
     */
    Expression asInteger(String name, boolean wide) {
        Expression e = get(name);
        if (e == null || e.dataType() instanceof NullType) {
            return Literal.create(null, DataTypes.IntegerType);
        }
        DataType t = e.dataType();
        if (!(t instanceof IntegralType)) {
            throw typeError(name, wide ? "an integer (INT or BIGINT)" : "an integer (INT)", e);
        }
        if (t instanceof IntegerType || (wide && t instanceof LongType)) {
            return e;
        }
        // TINYINT and SMALLINT widen; a BIGINT where only INT is taken fails on overflow under ANSI mode.
        return cast(e, DataTypes.IntegerType);
    }

    /** @return the argument as BIGINT, or a typed NULL where it is not given */
    Expression asLong(String name) {
        Expression e = get(name);
        if (e == null || e.dataType() instanceof NullType) {
            return Literal.create(null, DataTypes.LongType);
        }
        if (!(e.dataType() instanceof IntegralType)) {
            throw typeError(name, "an integer (BIGINT)", e);
        }
        return e.dataType() instanceof LongType ? e : cast(e, DataTypes.LongType);
    }

    /** @return the argument as a STRING column or value */
    Expression asString(String name) {
        Expression e = get(name);
        if (e == null || e.dataType() instanceof NullType) {
            return Literal.create(null, DataTypes.StringType);
        }
        if (!e.dataType().equals(DataTypes.StringType)) {
            throw typeError(name, "a string", e);
        }
        return e;
    }

    /**
     * @return the argument as ARRAY&lt;STRING&gt;: an array of strings as it is, one STRING wrapped in an array, or a
     *         typed NULL where it is not given
     */
    Expression asStringArray(String name) {
        DataType type = DataTypes.createArrayType(DataTypes.StringType, true);
        Expression e = get(name);
        if (e == null || e.dataType() instanceof NullType) {
            return Literal.create(null, type);
        }
        if (e.dataType().equals(DataTypes.StringType)) {
            return cast(new org.apache.spark.sql.catalyst.expressions.CreateArray(
                scala.jdk.javaapi.CollectionConverters.asScala(List.of(e)).toSeq(), false), type);
        }
        if (e.dataType() instanceof org.apache.spark.sql.types.ArrayType at && at.elementType().equals(DataTypes.StringType)) {
            return at.containsNull() ? e : cast(e, type);
        }
        throw typeError(name, "a string or an array of strings", e);
    }

    /** @return the constant string argument {@code name}, or null where not given */
    String constantString(String name, String what) {
        Expression e = get(name);
        if (e == null) {
            return null;
        }
        if (!e.foldable() || !e.dataType().equals(DataTypes.StringType)) {
            throw error(function + "(): argument '" + name + "' must be a string literal (" + what + "), got " + e.sql());
        }
        Object v = e.eval(null);
        if (v == null) {
            throw error(function + "(): argument '" + name + "' must not be NULL (" + what + ")");
        }
        return v.toString();
    }

    /**
     * Checks a constant argument's value where it is one ({@code check} returns the problem or null); a
     * column is checked row by row when the query runs.
     */
    void checkConstant(String name, Expression value, java.util.function.Function<Object, String> check) {
        if (value.foldable()) {
            Object v = value.eval(null);
            String problem = v == null ? null : check.apply(v);
            if (problem != null) {
                throw error(function + "(): argument '" + name + "' " + problem);
            }
        }
    }

    private static Expression cast(Expression e, DataType to) {
        return new Cast(e, to, Option.empty());
    }

    private RuntimeException typeError(String name, String what, Expression e) {
        return error(function + "(): argument '" + name + "' must be " + what + ", got " + e.sql() + " of type "
            + e.dataType().sql());
    }

    static RuntimeException error(String message) {
        return Catalyst.analysisError(message);
    }

    @Override
    public String toString() {
        return function + Arrays.toString(values);
    }
}
