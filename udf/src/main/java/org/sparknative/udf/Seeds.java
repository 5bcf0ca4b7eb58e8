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
}
