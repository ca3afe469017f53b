/* copyout.h - the one door to caller memory.
 *
 * Every byte the module hands back through a caller's buffer (ciphertext and plaintext,
 * wrapped keys, tags, MACs, digests, attribute values, random bytes, the fixed-size info
 * structures) is written by ks_copy_out or ks_copy_out_fill, once, with its final value:
 * intermediate work (in-place wrapping, padding, a decryption whose tag is not yet checked)
 * happens in module-owned memory, locked when it holds secrets (crypto/mem.h), and only the
 * finished result crosses the API. A caller's buffer may be shared memory or a file mapping
 * that another process reads while the call runs; it never sees a value that is not final.
 * Handles, counts and lengths (CK_ULONG outputs) are plain stores: they are final when
 * stored and hold nothing secret. tests/native/test_copyout.py checks the sources for writes
 * that bypass these functions.
 *
 * Built with -DKS_COPYOUT_CHECK, the helper also asserts the rule: within one call of an
 * entry point (ended by ks_copy_out_call_end, which the front's exit calls) a byte written
 * twice aborts the process. */
#ifndef KS_CRYPTO_COPYOUT_H
#define KS_CRYPTO_COPYOUT_H

#include <stddef.h>

/* ks_copy_out copies len bytes from module memory src to the caller's dst (they do not
 * overlap); len may be 0 with either pointer NULL. */
void ks_copy_out(void *dst, const void *src, size_t len);

/* ks_copy_out_fill sets len bytes of the caller's dst to byte (blank padding, zeros). */
void ks_copy_out_fill(void *dst, int byte, size_t len);

/* ks_copy_out_retract zeroes len bytes of the caller's dst that this call wrote and now
 * takes back, because the call fails after writing them (a wrap whose audit record cannot be
 * written): the one exception to write-once, for output the caller is told is not valid. */
void ks_copy_out_retract(void *dst, size_t len);

/* ks_copy_out_call_end ends this thread's call for the check build (a no-op otherwise). */
void ks_copy_out_call_end(void);

#endif
