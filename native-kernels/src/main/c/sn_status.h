/*
 * spark-native: the one set of status codes the C kernels return (sn_llama.h, sn_sampler.h, sn_pool.h).
 *
 * 0 is success, every error is negative, so a function that otherwise returns a count or a token id can
 * return a status in the same int32. The Java mirror is org.sparknative.kernels.NativeStatus: the same
 * names without the SN_ prefix, the same values, one message each (NativeStatusTest keeps them equal).
 *
 * sn_tokenizer.h still returns its own SN_TOK_* codes, whose values overlap these.
 */
#ifndef SN_STATUS_H
#define SN_STATUS_H

typedef enum sn_status {
    SN_OK = 0,
    SN_ERR_OPEN = -1,   /* open() failed; the caller's out[1] holds errno */
    SN_ERR_STAT = -2,   /* fstat() failed; out[1] holds errno */
    SN_ERR_LENGTH = -3, /* the file length differs from the expected length; out[1] holds it */
    SN_ERR_MMAP = -4,   /* mmap() failed; out[1] holds errno */
    SN_ERR_NOMEM = -5,  /* an allocation failed: memory, or a pthread mutex or condition variable */
    SN_ERR_CONFIG = -6, /* an inconsistent model shape, or a tensor offset outside the file */
    SN_ERR_ARG = -7     /* an argument out of range; nothing was computed */
} sn_status;

#endif /* SN_STATUS_H */
