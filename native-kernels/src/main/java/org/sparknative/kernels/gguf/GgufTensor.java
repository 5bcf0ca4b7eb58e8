package org.sparknative.kernels.gguf;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor of a GGUF file, as its tensor info describes it and {@link GgufFile#open} validated it.
 *
 * <p>Shape in ggml's order: {@code dims[0]} ({@code ne0}) is the row length, the dimension whose elements are
 * contiguous; {@code dims[1]} counts rows, and so on. A PyTorch {@code [out, in]} weight is stored as {@code
 * dims = {in, out}}: {@code out} rows of {@code in} elements. The data is {@code rows() * rowBytes()} bytes, rows one
 * after another, each row {@code ne0 / type.blockSize()} blocks of {@code type.typeSize()} bytes, little-endian.
 *
 * @param name         the tensor's name (UTF-8 in the file, at most {@value GgufFile#MAX_TENSOR_NAME_BYTES} bytes)
 * @param type         its element type
 * @param dims         1 to 4 positive dimensions, {@code ne0} first (copied; the accessor returns a copy)
 * @param elementCount the product of {@code dims}
 * @param byteSize     {@code elementCount / type.blockSize() * type.typeSize()}
 * @param offset       the absolute file offset of its first byte: the file's data offset plus the relative offset of
 *                     its tensor info, a multiple of the file's alignment
 */
public record GgufTensor(String name, GgmlType type, long[] dims, long elementCount, long byteSize, long offset) {

    /** Copies {@code dims}. */
    public GgufTensor {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        dims = dims.clone();
    }

    /** @return a copy of the dimensions, {@code ne0} (row length) first */
    @Override
    public long[] dims() {
        return dims.clone();
    }

    /** @return the number of dimensions, 1 to 4 */
    public int nDims() {
        return dims.length;
    }

    /** @return dimension {@code i} ({@code ne_i}), or 1 for {@code i >= nDims()} (as ggml pads shapes to 4 dims) */
    public long dim(int i) {
        return i < dims.length ? dims[i] : 1;
    }

    /** @return elements per row, {@code ne0} */
    public long rowLength() {
        return dims[0];
    }

    /** @return the number of rows, {@code elementCount / ne0} (every dimension after the first) */
    public long rows() {
        return elementCount / dims[0];
    }

    /** @return bytes per row, {@code ne0 / blockSize * typeSize} */
    public long rowBytes() {
        return byteSize / rows();
    }

    /** @return the file offset just past the tensor's last byte */
    public long end() {
        return offset + byteSize;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensor t && t.name.equals(name) && t.type == type && Arrays.equals(t.dims, dims)
            && t.elementCount == elementCount && t.byteSize == byteSize && t.offset == offset;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, type, Arrays.hashCode(dims), elementCount, byteSize, offset);
    }

    /** @return e.g. {@code "blk.0.attn_q.weight Q8_0 [64, 64] (4352 bytes at 6784)"} */
    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(dims) + " (" + byteSize + " bytes at " + offset + ")";
    }
}
