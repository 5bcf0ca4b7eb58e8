package org.sparknative.udf;

/** Deterministic seed derivation shared by the workloads: values depend only on their inputs. */
public final class Seeds {
    private Seeds() {
    }

    /** Stafford's mix13 finalizer (as in SplittableRandom): decorrelates consecutive or similar keys. */
    public static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** FNV-1a's 64-bit offset basis: the hash of no bytes. */
    public static final long FNV1A_OFFSET = 0xcbf29ce484222325L;

    /** @return the 64-bit FNV-1a hash {@code h} extended by the byte {@code b} */
    public static long fnv1a(long h, byte b) {
        return (h ^ (b & 0xff)) * 0x100000001b3L;
    }

    /** @return the 64-bit FNV-1a hash of {@code bytes} (the seed key of a prompt, or of a string id) */
    public static long fnv1a(byte[] bytes) {
        long h = FNV1A_OFFSET;
        for (byte b : bytes) {
            h = fnv1a(h, b);
        }
        return h;
    }
}
