/* ct.h - constant-time mask helpers (all inline, no branches on their arguments).
 *
 * A "mask" is all ones (true) or all zeros (false). value_barrier keeps the compiler from
 * turning mask arithmetic back into branches. */
#ifndef KS_CRYPTO_CT_H
#define KS_CRYPTO_CT_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t ks_mask;

static inline ks_mask ks_value_barrier(ks_mask a)
{
    __asm__("" : "+r"(a) : /* no inputs */);
    return a;
}

/* ks_ct_msb returns all ones when the top bit of a is set. */
static inline ks_mask ks_ct_msb(ks_mask a) { return 0 - (a >> 63); }

static inline ks_mask ks_ct_is_zero(ks_mask a) { return ks_ct_msb(~a & (a - 1)); }

static inline ks_mask ks_ct_eq(ks_mask a, ks_mask b) { return ks_ct_is_zero(a ^ b); }

/* ks_ct_lt returns all ones when a < b (unsigned). */
static inline ks_mask ks_ct_lt(ks_mask a, ks_mask b)
{
    return ks_ct_msb(a ^ ((a ^ b) | ((a - b) ^ a)));
}

static inline ks_mask ks_ct_ge(ks_mask a, ks_mask b) { return ~ks_ct_lt(a, b); }

static inline ks_mask ks_ct_select(ks_mask mask, ks_mask a, ks_mask b)
{
    return (ks_value_barrier(mask) & a) | (~ks_value_barrier(mask) & b);
}

/* ks_ct_is_zero_bytes returns all ones when the len bytes at p are all zero. */
static inline ks_mask ks_ct_is_zero_bytes(const uint8_t *p, size_t len)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < len; i++) {
        acc |= p[i];
    }
    return ks_ct_is_zero(acc);
}

#endif
