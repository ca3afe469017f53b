/* copyout.h - the one door to caller memory.
 *
 * Every byte the module hands back through a caller's buffer (ciphertext and plaintext,
 * wrapped keys, tags, MACs, digests, attribute values, random bytes, the fixed-size info
 * structures) is written by ks_copy_out, ks_copy_out_fill or ks_copy_out_produce, once, with
 * its final value:
 * intermediate work (in-place wrapping, padding, a decryption whose tag is not yet checked)
 * happens in module-owned memory, locked when it holds secrets (crypto/mem.h), and only the
 * finished result crosses the API. A caller's buffer may be shared memory or a file mapping
 * that another process reads while the call runs; it never sees a value that is not final.
 * Handles, counts and lengths (CK_ULONG outputs) are plain stores: they are final when
 * stored and hold nothing secret. tests/native/test_copyout.py checks the sources for writes
 * that bypass these functions.
 *
 * A cipher kernel whose output is final as it is stored (CTR, ECB, CBC, GCM encryption, GCM
 * decryption after its tag verified, a digest or MAC) produces it in place through
 * ks_copy_out_produce, so that bulk data is not copied twice.
 *
 * Built with -DKS_COPYOUT_CHECK, the helper also asserts the rule: within one call of an
 * entry point (ended by ks_copy_out_call_end, which the front's exit calls) a byte written
 * twice aborts the process; and a producer writes into a module buffer that is copied out
 * once when it succeeds, so that a producer that stored a byte twice, or a value that was
 * not final, is not seen in the caller's buffer (and the tracer test sees each store). */
#ifndef KS_CRYPTO_COPYOUT_H
#define KS_CRYPTO_COPYOUT_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/status.h"

/* ks_copy_out copies len bytes from module memory src to the caller's dst (they do not
 * overlap); len may be 0 with either pointer NULL. */
void ks_copy_out(void *dst, const void *src, size_t len);

/* A producer writes exactly len bytes of final output at dst (each byte once, none before it
 * is final; it may read inputs that alias dst, as a cipher in place does) and returns
 * KS_OK. A producer that fails writes nothing. arg is the producer's own state. */
typedef ks_status (*ks_copy_out_fn)(void *arg, uint8_t *dst, size_t len);

/* ks_copy_out_produce has fn write len bytes of output into the caller's dst and returns what
 * fn returns: in the normal build fn writes dst itself (no copy); with KS_COPYOUT_CHECK it
 * writes a module buffer that is copied out only when it returns KS_OK (KS_ERR_NOMEM when
 * that buffer cannot be had). len may be 0, fn is then not called. */
ks_status ks_copy_out_produce(void *dst, size_t len, ks_copy_out_fn fn, void *arg);

/* ks_copy_out_fill sets len bytes of the caller's dst to byte (blank padding, zeros). */
void ks_copy_out_fill(void *dst, int byte, size_t len);

/* ks_copy_out_retract zeroes len bytes of the caller's dst that this call wrote and now
 * takes back, because the call fails after writing them (a wrap whose audit record cannot be
 * written): the one exception to write-once, for output the caller is told is not valid. */
void ks_copy_out_retract(void *dst, size_t len);

/* ks_copy_out_call_end ends this thread's call for the check build (a no-op otherwise). */
void ks_copy_out_call_end(void);

#endif
