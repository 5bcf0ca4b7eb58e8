package org.sparknative.spark.sql;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.expressions.Expression;
import org.apache.spark.sql.catalyst.expressions.NamedExpression;
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenContext;
import org.apache.spark.sql.catalyst.expressions.codegen.CodegenFallback;
import org.apache.spark.sql.catalyst.expressions.codegen.ExprCode;
import org.apache.spark.sql.catalyst.util.ArrayData;
import org.apache.spark.sql.catalyst.util.MapData;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.MapType;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.unsafe.types.UTF8String;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sparknative.spark.RowIds;
import org.sparknative.udf.InvalidRowException;
import org.sparknative.udf.RowLabels;
import org.sparknative.udf.generate.ChatTemplate;
import scala.collection.immutable.IndexedSeq;
import scala.collection.immutable.Seq;

/**
 * {@code apply_chat_template(messages)} as a Catalyst expression: a row's messages rendered into its prompt by the
 * model's {@link ChatTemplate}, which the call carries (read once on the driver). Evaluated row by row where it stands
 * (rendering takes microseconds; there is nothing to batch).
 *
 * <p>{@code messages} is {@code ARRAY<STRUCT<role: STRING, content: STRING>>} (other fields are ignored) or
 * {@code ARRAY<MAP<STRING, STRING>>} with the keys {@code role} and {@code content}. A null {@code messages} gives a
 * null prompt (as a null prompt gives a null completion). An invalid row (no messages, a null message, a message
 * without a role or content, a template that rejects the conversation with {@code raise_exception} or fails on it)
 * fails the query naming the row under {@code failOnError} ({@code spark.sparknative.invalidRows=fail}, the default),
 * else its prompt is null and the reason goes to the executor's log.
 *
 * <p>Children: {@code messages}, then optional row-id columns ({@code id}, {@code _input_row}) by which messages name
 * rows; without them a message names the row by the start of its messages.
 */
public final class ChatTemplateCall extends Expression implements CodegenFallback, Serializable {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(ChatTemplateCall.class);

    /** The SQL name. */
    public static final String NAME = "apply_chat_template";

    /**
     * @param template            the compiled template
     * @param addGenerationPrompt end with the assistant's header ({@code add_generation_prompt})
     * @param failOnError         an invalid row fails the query (else its prompt is null)
     * @param context             the names of the row-id children after {@code messages}, in order
     */
    public record Settings(ChatTemplate template, boolean addGenerationPrompt, boolean failOnError, List<String> context)
        implements Serializable {
        private static final long serialVersionUID = 1L;

        public Settings {
            Objects.requireNonNull(template, "template");
            context = List.copyOf(context);
        }
    }

    private final List<Expression> children;
    private final Settings settings;

    /** Catalyst's constructor (its tree copies call it by reflection). */
    public ChatTemplateCall(Seq<Expression> children, Settings settings) {
        this.children = List.copyOf(Catalyst.list(children));
        this.settings = Objects.requireNonNull(settings, "settings");
        if (this.children.size() != 1 + settings.context().size()) {
            throw new IllegalArgumentException(NAME + " takes messages and " + settings.context().size()
                + " row-id columns, got " + this.children.size() + " children");
        }
    }

    /**
     * @param messages the messages column (see the class comment for its types)
     * @param context  row-id columns ({@code id}, {@code _input_row}) for messages, possibly none
     * @throws IllegalArgumentException if {@code messages} is of another type
     */
    public static ChatTemplateCall of(Expression messages, List<Expression> context, ChatTemplate template,
                                      boolean addGenerationPrompt, boolean failOnError) {
        String problem = typeProblem(messages.dataType());
        if (problem != null) {
            throw new IllegalArgumentException(NAME + ": messages " + problem);
        }
        List<Expression> all = new ArrayList<>();
        all.add(messages);
        List<String> names = new ArrayList<>();
        for (Expression c : context) {
            all.add(c);
            names.add(c instanceof NamedExpression n ? n.name() : c.sql());
        }
        return new ChatTemplateCall(Catalyst.seq(all), new Settings(template, addGenerationPrompt, failOnError, names));
    }

    /** @return null if {@code t} is a messages type, else what is wrong with it */
    static String typeProblem(DataType t) {
        String expected = "must be ARRAY<STRUCT<role: STRING, content: STRING>> or ARRAY<MAP<STRING, STRING>>, got "
            + t.sql();
        if (!(t instanceof ArrayType at)) {
            return expected;
        }
        DataType e = at.elementType();
        if (e instanceof StructType st) {
            for (String f : List.of("role", "content")) {
                StructField field = field(st, f);
                if (field == null || !field.dataType().equals(DataTypes.StringType)) {
                    return expected;
                }
            }
            return null;
        }
        if (e instanceof MapType mt && mt.keyType().equals(DataTypes.StringType)
            && mt.valueType().equals(DataTypes.StringType)) {
            return null;
        }
        return expected;
    }

    private static StructField field(StructType st, String name) {
        for (StructField f : st.fields()) {
            if (f.name().equalsIgnoreCase(name)) {
                return f;
            }
        }
        return null;
    }

    public Settings settings() {
        return settings;
    }

    @Override
    public Seq<Expression> children() {
        return Catalyst.seq(children);
    }

    @Override
    public Expression withNewChildrenInternal(IndexedSeq<Expression> c) {
        return new ChatTemplateCall(c, settings);
    }

    @Override
    public boolean nullable() {
        return true;
    }

    @Override
    public DataType dataType() {
        return DataTypes.StringType;
    }

    @Override
    public String prettyName() {
        return NAME;
    }

    @Override
    public String sql() {
        return NAME + "(" + children.get(0).sql() + ")";
    }

    @Override
    public String toString() {
        return sql();
    }

    @Override
    public scala.collection.Iterator<Object> flatArguments() {
        return Catalyst.<Object>seq(List.<Object>of(children.get(0))).iterator();
    }

    @Override
    public ExprCode doGenCode(CodegenContext ctx, ExprCode ev) {
        return CodegenFallback.super.doGenCode(ctx, ev);
    }

    @Override
    public Object eval(InternalRow row) {
        Object value = children.get(0).eval(row);
        if (value == null) {
            return null;
        }
        List<ChatTemplate.Message> messages = new ArrayList<>();
        String problem = messages((ArrayData) value, messages);
        if (problem == null) {
            try {
                return UTF8String.fromString(settings.template().render(messages, settings.addGenerationPrompt()));
            } catch (ChatTemplate.RenderException e) {
                problem = "chat template: " + e.getMessage();
            }
        }
        String label = label(row, messages);
        String message = NAME + ": " + label + ": " + problem;
        if (settings.failOnError()) {
            throw new InvalidRowException(label, message);
        }
        LOG.warn("{} (its prompt is null)", message);
        return null;
    }

    /** Reads the messages into {@code out}; @return null, or what makes the row invalid */
    private String messages(ArrayData array, List<ChatTemplate.Message> out) {
        int n = array.numElements();
        if (n == 0) {
            return "messages is empty";
        }
        DataType element = ((ArrayType) children.get(0).dataType()).elementType();
        for (int i = 0; i < n; i++) {
            if (array.isNullAt(i)) {
                return "message " + (i + 1) + " is null";
            }
            String role;
            String content;
            if (element instanceof StructType st) {
                InternalRow m = array.getStruct(i, st.size());
                role = string(m, st.fieldIndex(field(st, "role").name()));
                content = string(m, st.fieldIndex(field(st, "content").name()));
            } else {
                MapData m = array.getMap(i);
                role = null;
                content = null;
                for (int k = 0; k < m.numElements(); k++) {
                    String key = m.keyArray().getUTF8String(k).toString();
                    String v = m.valueArray().isNullAt(k) ? null : m.valueArray().getUTF8String(k).toString();
                    if (key.equals("role")) {
                        role = v;
                    } else if (key.equals("content")) {
                        content = v;
                    }
                }
            }
            if (role == null) {
                return "message " + (i + 1) + " has no role";
            }
            if (content == null) {
                return "message " + (i + 1) + " (" + role + ") has no content";
            }
            out.add(new ChatTemplate.Message(role, content));
        }
        return null;
    }

    private static String string(InternalRow r, int i) {
        return r.isNullAt(i) ? null : r.getUTF8String(i).toString();
    }

    /** The row's label: its id or input row where the call has them, else the start of its messages. */
    private String label(InternalRow row, List<ChatTemplate.Message> read) {
        for (int k = 0; k < settings.context().size(); k++) {
            Expression c = children.get(1 + k);
            Object v = c.eval(row);
            if (v == null) {
                continue;
            }
            String name = settings.context().get(k);
            if (name.equals(RowIds.ID)) {
                return v instanceof UTF8String s ? RowLabels.id(s.toString()) : RowLabels.id(((Number) v).longValue());
            }
            if (name.equals(RowIds.INPUT_ROW)) {
                return RowLabels.inputRow(((Number) v).longValue());
            }
        }
        if (read.isEmpty()) {
            return "a row whose first message is invalid";
        }
        String start = read.get(0).role() + ": " + read.get(0).content();
        return "the row whose messages begin \"" + (start.length() <= 40 ? start : start.substring(0, 40) + "...") + "\"";
    }

    @Override
    public int productArity() {
        return 2;
    }

    @Override
    public Object productElement(int i) {
        return switch (i) {
            case 0 -> Catalyst.seq(children);
            case 1 -> settings;
            default -> throw new IndexOutOfBoundsException(i);
        };
    }

    @Override
    public boolean canEqual(Object other) {
        return other instanceof ChatTemplateCall;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ChatTemplateCall c && children.equals(c.children) && settings.equals(c.settings);
    }

    @Override
    public int hashCode() {
        return Objects.hash(children, settings);
    }
}
