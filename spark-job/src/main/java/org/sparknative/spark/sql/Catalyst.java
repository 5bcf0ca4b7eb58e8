package org.sparknative.spark.sql;

import java.util.List;
import org.apache.spark.QueryContext;
import org.apache.spark.sql.AnalysisException;
import scala.Option;
import scala.PartialFunction;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;
import scala.runtime.AbstractPartialFunction;

/** Small bridges from Java to Catalyst's Scala API, shared by the extension's classes. */
final class Catalyst {
    private Catalyst() {
    }

    /** @return {@code items} as an immutable Scala sequence */
    @SafeVarargs
    static <T> Seq<T> seq(T... items) {
        List<T> list = new java.util.ArrayList<>(items.length);
        for (T t : items) {
            list.add(t);
        }
        return seq(list);
    }

    /** @return {@code items} with {@code item} appended */
    static <T> Seq<T> append(scala.collection.Seq<T> items, T item) {
        List<T> list = new java.util.ArrayList<>(list(items));
        list.add(item);
        return seq(list);
    }

    /** @return {@code map} as an immutable Scala map */
    static <K, V> scala.collection.immutable.Map<K, V> map(java.util.Map<K, V> map) {
        return scala.collection.immutable.Map$.MODULE$.from(CollectionConverters.asScala(map));
    }

    /** @return {@code items} as an immutable Scala sequence */
    static <T> Seq<T> seq(List<T> items) {
        return CollectionConverters.asScala(items).toSeq();
    }

    /** @return {@code items} as a Java list */
    static <T> List<T> list(scala.collection.Seq<T> items) {
        return CollectionConverters.asJava(items);
    }

    /** @return a partial function defined everywhere: {@code fn} for every value */
    static <A> PartialFunction<A, A> everywhere(java.util.function.UnaryOperator<A> fn) {
        return new AbstractPartialFunction<A, A>() {
            @Override
            public boolean isDefinedAt(A x) {
                return true;
            }

            @Override
            public <A1 extends A, B1> B1 applyOrElse(A1 x, scala.Function1<A1, B1> fallback) {
                @SuppressWarnings("unchecked")
                B1 out = (B1) fn.apply(x);
                return out;
            }
        };
    }

    /**
     * An analysis error with a plain message, as Spark reports a bad query: the message reaches the SQL
     * user (a shell, a notebook, a Spark Connect client) as it is. Thrown here (Java sees it as checked, Scala
     * code and Spark do not); the return type lets callers write {@code throw analysisError(...)}.
     */
    static RuntimeException analysisError(String message) {
        throw Catalyst.<RuntimeException>sneaky(new AnalysisException(message, Option.empty(), Option.empty(),
            Option.empty(), Option.empty(), scala.collection.immutable.Map$.MODULE$.empty(), new QueryContext[0]));
    }

    @SuppressWarnings("unchecked")
    private static <E extends Throwable> E sneaky(Throwable t) throws E {
        throw (E) t;
    }
}
