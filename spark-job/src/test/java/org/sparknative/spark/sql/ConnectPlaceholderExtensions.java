package org.sparknative.spark.sql;

import org.apache.spark.sql.SparkSessionExtensions;
import org.apache.spark.sql.catalyst.FunctionIdentifier;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.ExpressionInfo;
import org.apache.spark.sql.catalyst.expressions.Literal$;
import org.apache.spark.sql.types.DataTypes;
import scala.Function1;
import scala.Tuple3;
import scala.runtime.AbstractFunction1;
import scala.runtime.BoxedUnit;

/** Interim stand-in for SparkNativeExtensions: {@code connect_probe()} returns 'extension loaded'. */
public final class ConnectPlaceholderExtensions extends AbstractFunction1<SparkSessionExtensions, BoxedUnit> {
    @Override
    public BoxedUnit apply(SparkSessionExtensions ext) {
        Function1<scala.collection.immutable.Seq<Expression>, Expression> build =
            args -> Literal$.MODULE$.create("extension loaded", DataTypes.StringType);
        ext.injectFunction(new Tuple3<>(FunctionIdentifier.apply("connect_probe"),
            new ExpressionInfo(getClass().getName(), "connect_probe"), build));
        return BoxedUnit.UNIT;
    }
}
