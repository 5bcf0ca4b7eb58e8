package org.sparknative.kernels.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The project's CUDA kernels as the build compiled them: one fatbin, the resource {@value #RESOURCE}, that
 * {@code nvcc} makes from {@code src/main/cuda/sparknative.cu} (which includes every workload's {@code .cu}
 * file) when it is on the PATH at build time. It holds SASS
 * for {@code sm_80}, {@code sm_86}, {@code sm_89} and {@code sm_90}, and {@code compute_90} PTX that the
 * driver JIT-compiles for newer GPUs (and caches per machine). Built without {@code nvcc}, the jar has no
 * fatbin, and {@link #load()} says so.
 *
 * <p>This class reads the container only: which architectures it carries and which kernels each holds (for
 * tests and diagnostics). The driver API loads the bytes ({@code cuModuleLoadData}).
 *
 * <p>Format: a fatbin is a 16-byte header (magic {@code 0xBA55ED50}, version, header size, payload size)
 * followed by entries, each a header (kind 1 = PTX, 2 = ELF cubin; header size; payload size; target
 * {@code sm_XY} as {@code XY}) and its payload. The build writes them uncompressed
 * ({@code --compress-mode=none}). Kernels are read from a cubin's section names ({@code .text.<kernel>})
 * and from PTX {@code .entry} directives. Immutable and thread-safe.
 */
public final class CudaFatbin {
    /** The classpath resource the build writes. */
    public static final String RESOURCE = "/org/sparknative/kernels/cuda/sparknative.fatbin";
    /**
     * The kernels every fatbin of this build must hold, in every entry, in name order: integrate_f
     * ({@code sn_integrate.cu}) and the Llama-2 forward pass ({@code sn_llama.cu}).
     */
    public static final List<String> KERNELS = List.of(
        "sn_integrate_f_kernel",
        "sn_llama_argmax",
        "sn_llama_attention",
        "sn_llama_embed",
        "sn_llama_matmul",
        "sn_llama_residual_add",
        "sn_llama_rmsnorm",
        "sn_llama_rope_kv",
        "sn_llama_swiglu");

    static final int MAGIC = 0xBA55ED50;
    private static final Pattern PTX_ENTRY = Pattern.compile("\\.entry\\s+([A-Za-z_][A-Za-z0-9_]*)");

    /** One entry: SASS for an {@code sm_XY}, or PTX for a {@code compute_XY}. */
    public record Entry(boolean ptx, int arch, List<String> kernels) {
        /** @return {@code sm_90} or {@code compute_90} */
        public String target() {
            return (ptx ? "compute_" : "sm_") + arch;
        }
    }

    private final byte[] bytes;
    private final List<Entry> entries;

    private CudaFatbin(byte[] bytes, List<Entry> entries) {
        this.bytes = bytes;
        this.entries = entries;
    }

    /**
     * @return the build's fatbin, or empty when the build had no {@code nvcc} ("built without CUDA kernels")
     * @throws IllegalStateException if the resource is there but is not a well-formed fatbin
     */
    public static Optional<CudaFatbin> load() {
        try (InputStream in = CudaFatbin.class.getResourceAsStream(RESOURCE)) {
            return in == null ? Optional.empty() : Optional.of(parse(in.readAllBytes()));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + RESOURCE, e);
        }
    }

    /** @return why there is no fatbin: the one line the CUDA backend reports */
    public static String missingReason() {
        return "built without CUDA kernels: nvcc was not on the PATH when native-kernels was built";
    }

    /**
     * @throws IllegalStateException naming the offset of the first malformed field
     */
    static CudaFatbin parse(byte[] bytes) {
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 16 || b.getInt(0) != MAGIC) {
            throw new IllegalStateException("not a CUDA fatbin: no 0xBA55ED50 magic at offset 0");
        }
        int headerSize = b.getShort(6) & 0xffff;
        long end = headerSize + b.getLong(8);
        if (end > bytes.length) {
            throw new IllegalStateException("fatbin declares " + end + " bytes, has " + bytes.length);
        }
        List<Entry> entries = new ArrayList<>();
        long off = headerSize;
        while (off < end) {
            int o = (int) off;
            if (o + 40 > end) {
                throw new IllegalStateException("fatbin entry header at offset " + o + " runs past the end");
            }
            int kind = b.getShort(o) & 0xffff;
            int entryHeader = b.getInt(o + 4);
            long size = b.getLong(o + 8);
            int compressed = b.getInt(o + 16);
            int arch = b.getInt(o + 28);
            long payloadEnd = off + entryHeader + size;
            if (entryHeader < 40 || size < 0 || payloadEnd > end) {
                throw new IllegalStateException("fatbin entry at offset " + o + ": bad sizes");
            }
            if (compressed != 0) {
                throw new IllegalStateException("fatbin entry at offset " + o + " is compressed; the build writes "
                    + "uncompressed entries (--compress-mode=none)");
            }
            byte[] payload = java.util.Arrays.copyOfRange(bytes, o + entryHeader, (int) payloadEnd);
            if (kind == 1) {
                entries.add(new Entry(true, arch, ptxKernels(payload)));
            } else if (kind == 2) {
                entries.add(new Entry(false, arch, cubinKernels(payload, o)));
            }
            off = payloadEnd;
        }
        return new CudaFatbin(bytes, List.copyOf(entries));
    }

    /** @return the fatbin's bytes (a copy), for {@code cuModuleLoadData} */
    public byte[] bytes() {
        return bytes.clone();
    }

    /** @return the entries in file order */
    public List<Entry> entries() {
        return entries;
    }

    private static List<String> ptxKernels(byte[] ptx) {
        TreeSet<String> names = new TreeSet<>();
        Matcher m = PTX_ENTRY.matcher(new String(ptx, StandardCharsets.US_ASCII));
        while (m.find()) {
            names.add(m.group(1));
        }
        return List.copyOf(names);
    }

    /** The kernels of an ELF64 cubin: its {@code .text.<name>} sections. */
    private static List<String> cubinKernels(byte[] elf, int at) {
        ByteBuffer e = ByteBuffer.wrap(elf).order(ByteOrder.LITTLE_ENDIAN);
        if (elf.length < 64 || e.getInt(0) != 0x464C457F || elf[4] != 2) {
            throw new IllegalStateException("fatbin entry at offset " + at + " is not an ELF64 cubin");
        }
        long shoff = e.getLong(0x28);
        int shentsize = e.getShort(0x3A) & 0xffff;
        int shnum = e.getShort(0x3C) & 0xffff;
        int shstrndx = e.getShort(0x3E) & 0xffff;
        if (shoff + (long) shnum * shentsize > elf.length || shstrndx >= shnum || shentsize < 64) {
            throw new IllegalStateException("cubin at offset " + at + ": section headers out of range");
        }
        int strtab = (int) e.getLong((int) shoff + shstrndx * shentsize + 0x18);
        TreeSet<String> names = new TreeSet<>();
        for (int i = 0; i < shnum; i++) {
            int name = e.getInt((int) shoff + i * shentsize);
            int p = strtab + name;
            int q = p;
            while (q < elf.length && elf[q] != 0) {
                q++;
            }
            String s = new String(elf, p, q - p, StandardCharsets.US_ASCII);
            if (s.startsWith(".text.")) {
                names.add(s.substring(".text.".length()));
            }
        }
        return List.copyOf(names);
    }
}
