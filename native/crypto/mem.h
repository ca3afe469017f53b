/* mem.h - the only wipe and the only comparison of secrets.
 *
 * ks_wipe() is the single way to erase secret memory (key schedules, unwrapped keys, GHASH
 * state, PINs) on every exit path; the compiler may not elide it. ks_memeq() compares in
 * time independent of the contents. ks_secure_alloc()/ks_secure_free() hold key material in
 * locked memory excluded from core dumps where the OS allows (mlock, MADV_DONTDUMP), and wipe
 * on free: secrets up to 2 KiB share 64 KiB chunks (a slab), larger ones get pages of their
 * own. */
#ifndef KS_CRYPTO_MEM_H
#define KS_CRYPTO_MEM_H

#include <stddef.h>

/* ks_wipe sets len bytes at p to zero; p may be NULL when len is 0. */
void ks_wipe(void *p, size_t len);

/* ks_memeq returns 1 when the len bytes at a and b are equal, 0 otherwise, in time that
 * depends only on len. */
int ks_memeq(const void *a, const void *b, size_t len);

/* ks_secure_alloc returns len zeroed bytes, 64-byte aligned (locked and not dumped where
 * possible; where mlock is refused, plain heap memory that is still wiped on free), or NULL
 * (allocation failure, or len too large). len may be 0. */
void *ks_secure_alloc(size_t len);

/* ks_secure_free wipes and frees memory from ks_secure_alloc; NULL is allowed. The whole
 * block is wiped whatever len says; a len larger than was allocated, or a pointer that did
 * not come from ks_secure_alloc, aborts the process rather than free blindly. */
void ks_secure_free(void *p, size_t len);

/* ks_secure_largest returns the largest len asked of ks_secure_alloc since the last reset
 * (reset non-zero: and starts afresh at 0). It lets tests show that a call's locked memory
 * does not grow with its data (a GCM decryption stages nothing). */
size_t ks_secure_largest(int reset);

/* ks_wipe_stack zeroes 16 KiB of stack below the caller's frame, where calls that returned
 * may have left secrets, and the vector registers, which keep AES round keys after the
 * kernels return until some later code saves them to memory. Every block from ks_secure_alloc
 * still live at process exit is also wiped then (a destructor in mem.c). */
void ks_wipe_stack(void);

#endif
