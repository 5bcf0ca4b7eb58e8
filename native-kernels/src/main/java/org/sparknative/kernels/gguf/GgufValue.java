package org.sparknative.kernels.gguf;

import java.util.Arrays;
import java.util.Objects;

/**
 * One GGUF metadata value: a number, a bool, a string, or an array of one element type (arrays may nest), as the
 * GGUF specification (ggml's {@code docs/gguf.md}) defines them.
 *
 * <p>How values are held: every integer scalar as a {@code long} holding its exact value, except a {@link
 * GgufValueType#UINT64} above {@code Long.MAX_VALUE}, which holds its bit pattern; arrays as Java arrays of the
 * element's width holding the bit patterns ({@code byte[]} for UINT8/INT8, {@code short[]} for UINT16/INT16,
 * {@code int[]} for UINT32/INT32, {@code long[]} for UINT64/INT64, {@code float[]}, {@code double[]},
 * {@code boolean[]}, {@code String[]}, and {@code GgufValue[]} of arrays for nested arrays). The typed accessors
 * interpret unsigned types as unsigned and refuse a conversion that would lose information.
 *
 * <p>The factories of the sized integer types throw an {@link IllegalArgumentException} for a value outside the type's
 * range; the typed accessors throw an {@link IllegalStateException} for a value of another type or one that does not
 * fit (which {@link GgufFile}'s getters turn into a {@link GgufException} naming the file and the key).
 *
 * <p>Immutable and thread-safe: factories and accessors copy arrays.
 */
public final class GgufValue {
    private final GgufValueType type;
    private final GgufValueType elementType;
    private final Object value;

    private GgufValue(GgufValueType type, GgufValueType elementType, Object value) {
        this.type = type;
        this.elementType = elementType;
        this.value = value;
    }

    /** Returns a UINT8 holding {@code v}: 0 to 255. */
    public static GgufValue uint8(int v) {
        return integer(GgufValueType.UINT8, v, 0, 0xFF);
    }

    /** Returns an INT8 holding {@code v}: -128 to 127. */
    public static GgufValue int8(int v) {
        return integer(GgufValueType.INT8, v, Byte.MIN_VALUE, Byte.MAX_VALUE);
    }

    /** Returns a UINT16 holding {@code v}: 0 to 65535. */
    public static GgufValue uint16(int v) {
        return integer(GgufValueType.UINT16, v, 0, 0xFFFF);
    }

    /** Returns an INT16 holding {@code v}: -32768 to 32767. */
    public static GgufValue int16(int v) {
        return integer(GgufValueType.INT16, v, Short.MIN_VALUE, Short.MAX_VALUE);
    }

    /** Returns a UINT32 holding {@code v}: 0 to 2^32-1. */
    public static GgufValue uint32(long v) {
        return integer(GgufValueType.UINT32, v, 0, 0xFFFF_FFFFL);
    }

    /** Returns an INT32 holding {@code v}: any int. */
    public static GgufValue int32(int v) {
        return new GgufValue(GgufValueType.INT32, null, (long) v);
    }

    /** Returns a UINT64 holding {@code bits}: the value's 64 bits, read as unsigned (so {@code -1} is 2^64-1). */
    public static GgufValue uint64(long bits) {
        return new GgufValue(GgufValueType.UINT64, null, bits);
    }

    /** Returns an INT64 holding {@code v}: any long. */
    public static GgufValue int64(long v) {
        return new GgufValue(GgufValueType.INT64, null, v);
    }

    /** Returns a FLOAT32 holding {@code v}: any float, NaN payloads included. */
    public static GgufValue float32(float v) {
        return new GgufValue(GgufValueType.FLOAT32, null, v);
    }

    /** Returns a FLOAT64 holding {@code v}: any double. */
    public static GgufValue float64(double v) {
        return new GgufValue(GgufValueType.FLOAT64, null, v);
    }

    /** @return a BOOL */
    public static GgufValue bool(boolean v) {
        return new GgufValue(GgufValueType.BOOL, null, v);
    }

    /** Returns a STRING holding {@code v}: written as UTF-8. */
    public static GgufValue string(String v) {
        return new GgufValue(GgufValueType.STRING, null, Objects.requireNonNull(v, "v"));
    }

    /** @return an ARRAY of STRING */
    public static GgufValue stringArray(String... v) {
        return array(GgufValueType.STRING, v);
    }

    /** @return an ARRAY of FLOAT32 */
    public static GgufValue float32Array(float... v) {
        return array(GgufValueType.FLOAT32, v);
    }

    /** @return an ARRAY of INT32 */
    public static GgufValue int32Array(int... v) {
        return array(GgufValueType.INT32, v);
    }

    /** Returns an ARRAY of ARRAY holding {@code v}: arrays (values of type ARRAY), possibly of different element types. */
    public static GgufValue arrayOfArrays(GgufValue... v) {
        return array(GgufValueType.ARRAY, v);
    }

    /**
     * An array of any element type, from a Java array of the width the class comment lists (bit patterns for the
     * unsigned types: a {@code byte[]} of {@code (byte) 255} is a UINT8 array holding 255).
     *
     * @param elementType the element type
     * @param values      the elements, copied
     * @return an ARRAY
     * @throws IllegalArgumentException if {@code values} is not the Java array that holds {@code elementType}, or an
     *                                  element of a nested array is not an array
     */
    public static GgufValue array(GgufValueType elementType, Object values) {
        Objects.requireNonNull(values, "values");
        Class<?> expected = arrayClass(elementType);
        if (values.getClass() != expected) {
            throw new IllegalArgumentException("an array of " + elementType + " is held in a " + expected.getSimpleName()
                + ", got " + values.getClass().getSimpleName());
        }
        Object copy = copy(values);
        if (copy instanceof Object[] objects) {
            for (Object o : objects) {
                Objects.requireNonNull(o, "array element");
                if (o instanceof GgufValue g && !g.isArray()) {
                    throw new IllegalArgumentException("an array of ARRAY holds arrays, got " + g);
                }
            }
        }
        return new GgufValue(GgufValueType.ARRAY, elementType, copy);
    }

    /** Wraps an array the reader built and owns: no copy. */
    static GgufValue ownedArray(GgufValueType elementType, Object values) {
        return new GgufValue(GgufValueType.ARRAY, elementType, values);
    }

    /** A scalar the reader read: integers as their exact value (uint64 as bits), others boxed. */
    static GgufValue ownedScalar(GgufValueType type, Object value) {
        return new GgufValue(type, null, value);
    }

    private static GgufValue integer(GgufValueType type, long v, long min, long max) {
        if (v < min || v > max) {
            throw new IllegalArgumentException(type + " holds " + min + " to " + max + ", got " + v);
        }
        return new GgufValue(type, null, v);
    }

    static Class<?> arrayClass(GgufValueType elementType) {
        return switch (elementType) {
            case UINT8, INT8 -> byte[].class;
            case UINT16, INT16 -> short[].class;
            case UINT32, INT32 -> int[].class;
            case UINT64, INT64 -> long[].class;
            case FLOAT32 -> float[].class;
            case FLOAT64 -> double[].class;
            case BOOL -> boolean[].class;
            case STRING -> String[].class;
            case ARRAY -> GgufValue[].class;
        };
    }

    private static Object copy(Object array) {
        if (array instanceof byte[] a) {
            return a.clone();
        } else if (array instanceof short[] a) {
            return a.clone();
        } else if (array instanceof int[] a) {
            return a.clone();
        } else if (array instanceof long[] a) {
            return a.clone();
        } else if (array instanceof float[] a) {
            return a.clone();
        } else if (array instanceof double[] a) {
            return a.clone();
        } else if (array instanceof boolean[] a) {
            return a.clone();
        } else if (array instanceof Object[] a) {
            return a.clone();
        }
        return array;
    }

    /** @return the value's type ({@link GgufValueType#ARRAY} for an array) */
    public GgufValueType type() {
        return type;
    }

    /** @return whether this is an array */
    public boolean isArray() {
        return type == GgufValueType.ARRAY;
    }

    /**
     * @return an array's element type
     * @throws IllegalStateException if this is not an array
     */
    public GgufValueType elementType() {
        requireArray();
        return elementType;
    }

    /**
     * @return an array's element count
     * @throws IllegalStateException if this is not an array
     */
    public int arrayLength() {
        requireArray();
        return java.lang.reflect.Array.getLength(value);
    }

    /**
     * @return the value as the class comment describes: a boxed {@code Long}, {@code Float}, {@code Double},
     *         {@code Boolean} or {@code String} for a scalar, a copy of the Java array for an array
     */
    public Object value() {
        return copy(value);
    }

    /**
     * @return an integer scalar's value
     * @throws IllegalStateException if this is not an integer, or a UINT64 above {@code Long.MAX_VALUE}
     */
    public long longValue() {
        if (!type.isInteger()) {
            throw new IllegalStateException("expected an integer, got " + describe());
        }
        long v = (Long) value;
        if (type == GgufValueType.UINT64 && v < 0) {
            throw new IllegalStateException("UINT64 " + Long.toUnsignedString(v) + " does not fit in an int64");
        }
        return v;
    }

    /**
     * @return an integer scalar's value
     * @throws IllegalStateException if this is not an integer or its value is outside the int range
     */
    public int intValue() {
        long v = longValue();
        if (v != (int) v) {
            throw new IllegalStateException(type + " " + v + " does not fit in an int32");
        }
        return (int) v;
    }

    /**
     * @return a FLOAT32, or an integer that a float represents exactly
     * @throws IllegalStateException for any other type or an integer a float would round
     */
    public float floatValue() {
        if (type == GgufValueType.FLOAT32) {
            return (Float) value;
        }
        if (type.isInteger()) {
            long v = longValue();
            if ((long) (float) v == v && v != Long.MAX_VALUE) {
                return v;
            }
            throw new IllegalStateException(type + " " + v + " is not exactly a float32");
        }
        throw new IllegalStateException("expected a FLOAT32 or an integer, got " + describe());
    }

    /**
     * @return a FLOAT32 or FLOAT64, or an integer that a double represents exactly
     * @throws IllegalStateException for any other type or an integer a double would round
     */
    public double doubleValue() {
        if (type == GgufValueType.FLOAT64) {
            return (Double) value;
        }
        if (type == GgufValueType.FLOAT32) {
            return (Float) value;
        }
        if (type.isInteger()) {
            long v = longValue();
            if ((long) (double) v == v && v != Long.MAX_VALUE) {
                return v;
            }
            throw new IllegalStateException(type + " " + v + " is not exactly a float64");
        }
        throw new IllegalStateException("expected a float or an integer, got " + describe());
    }

    /**
     * @return a BOOL's value
     * @throws IllegalStateException for any other type
     */
    public boolean boolValue() {
        if (type != GgufValueType.BOOL) {
            throw new IllegalStateException("expected a BOOL, got " + describe());
        }
        return (Boolean) value;
    }

    /**
     * @return a STRING's value
     * @throws IllegalStateException for any other type
     */
    public String stringValue() {
        if (type != GgufValueType.STRING) {
            throw new IllegalStateException("expected a STRING, got " + describe());
        }
        return (String) value;
    }

    /**
     * @return a copy of an array of STRING
     * @throws IllegalStateException for any other type
     */
    public String[] stringArray() {
        requireArrayOf(GgufValueType.STRING);
        return ((String[]) value).clone();
    }

    /**
     * @return a copy of an array of FLOAT32; an array of integers that floats represent exactly, converted
     * @throws IllegalStateException for any other type, or an integer element a float would round
     */
    public float[] floatArray() {
        requireArray();
        if (elementType == GgufValueType.FLOAT32) {
            return ((float[]) value).clone();
        }
        if (elementType.isInteger()) {
            long[] v = longs();
            float[] out = new float[v.length];
            for (int i = 0; i < v.length; i++) {
                if ((long) (float) v[i] != v[i] || v[i] == Long.MAX_VALUE) {
                    throw new IllegalStateException("element " + i + ": " + elementType + " " + v[i]
                        + " is not exactly a float32");
                }
                out[i] = v[i];
            }
            return out;
        }
        throw new IllegalStateException("expected an array of FLOAT32 or of integers, got " + describe());
    }

    /**
     * @return the elements of an array of integers as ints
     * @throws IllegalStateException for any other type, or an element outside the int range
     */
    public int[] intArray() {
        requireArray();
        if (elementType == GgufValueType.INT32) {
            return ((int[]) value).clone();
        }
        long[] v = longs();
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            if (v[i] != (int) v[i]) {
                throw new IllegalStateException("element " + i + ": " + elementType + " " + v[i] + " does not fit in an int32");
            }
            out[i] = (int) v[i];
        }
        return out;
    }

    /**
     * @return the elements of an array of integers as longs
     * @throws IllegalStateException for any other type, or a UINT64 element above {@code Long.MAX_VALUE}
     */
    public long[] longArray() {
        requireArray();
        return longs();
    }

    /**
     * @return the elements of an array of arrays
     * @throws IllegalStateException for any other type
     */
    public GgufValue[] arrays() {
        requireArrayOf(GgufValueType.ARRAY);
        return ((GgufValue[]) value).clone();
    }

    /** The elements of an integer array, exact (unsigned types read as unsigned). */
    private long[] longs() {
        if (!elementType.isInteger()) {
            throw new IllegalStateException("expected an array of integers, got " + describe());
        }
        boolean unsigned = switch (elementType) {
            case UINT8, UINT16, UINT32, UINT64 -> true;
            default -> false;
        };
        int n = arrayLength();
        long[] out = new long[n];
        if (value instanceof byte[] a) {
            for (int i = 0; i < n; i++) {
                out[i] = unsigned ? a[i] & 0xFF : a[i];
            }
        } else if (value instanceof short[] a) {
            for (int i = 0; i < n; i++) {
                out[i] = unsigned ? a[i] & 0xFFFF : a[i];
            }
        } else if (value instanceof int[] a) {
            for (int i = 0; i < n; i++) {
                out[i] = unsigned ? a[i] & 0xFFFF_FFFFL : a[i];
            }
        } else {
            long[] a = (long[]) value;
            for (int i = 0; i < n; i++) {
                if (unsigned && a[i] < 0) {
                    throw new IllegalStateException("element " + i + ": UINT64 " + Long.toUnsignedString(a[i])
                        + " does not fit in an int64");
                }
                out[i] = a[i];
            }
        }
        return out;
    }

    private void requireArray() {
        if (!isArray()) {
            throw new IllegalStateException("expected an array, got " + describe());
        }
    }

    private void requireArrayOf(GgufValueType element) {
        if (!isArray() || elementType != element) {
            throw new IllegalStateException("expected an array of " + element + ", got " + describe());
        }
    }

    /** @return the type, and for an array its element type and length: {@code "ARRAY of STRING [512]"} */
    public String describe() {
        return isArray() ? "ARRAY of " + elementType + " [" + arrayLength() + "]" : type.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufValue g && g.type == type && g.elementType == elementType
            && Arrays.deepEquals(new Object[] {value}, new Object[] {g.value});
    }

    @Override
    public int hashCode() {
        return Objects.hash(type, elementType, Arrays.deepHashCode(new Object[] {value}));
    }

    /** @return the type and value; arrays give their first elements only */
    @Override
    public String toString() {
        if (!isArray()) {
            String v = type == GgufValueType.UINT64 ? Long.toUnsignedString((Long) value)
                : type == GgufValueType.STRING ? '"' + (String) value + '"' : String.valueOf(value);
            return type + " " + v;
        }
        int n = arrayLength();
        StringBuilder s = new StringBuilder(describe()).append(" {");
        for (int i = 0; i < Math.min(n, 8); i++) {
            Object e = java.lang.reflect.Array.get(value, i);
            s.append(i == 0 ? "" : ", ").append(e instanceof String str ? '"' + str + '"' : String.valueOf(e));
        }
        return s.append(n > 8 ? ", ...}" : "}").toString();
    }
}
