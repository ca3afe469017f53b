/* ctr.c - CTR mode (SP 800-38A 6.5) with a counter field of 1..128 bits, streaming.
 *
 * The counter field is the low counter_bits bits of the block, big-endian, incremented
 * modulo 2^counter_bits (PKCS#11 CK_AES_CTR_PARAMS.ulCounterBits); the bits above it never
 * change. After 2^counter_bits blocks the counter would repeat, so ks_aes_ctr_xor refuses
 * any length that needs more fresh blocks than remain (SP 800-38A B.2: counter blocks must
 * be unique under a key). The bulk goes to a kernel that increments the low 32-bit word;
 * the input is cut into runs in which that word cannot wrap and the field cannot either. */
#include <string.h>

#include "crypto/aes_internal.h"
#include "crypto/mem.h"

ks_status ks_aes_ctr_init(ks_aes_ctr *ctr, const uint8_t counter_block[16],
                          unsigned counter_bits)
{
    if (ctr == NULL || counter_block == NULL || counter_bits < 1 || counter_bits > 128) {
        return KS_ERR_ARGS;
    }
    ks_wipe(ctr, sizeof(*ctr));
    memcpy(ctr->counter, counter_block, 16);
    ctr->used = 16;
    ctr->counter_bits = counter_bits;
    if (counter_bits == 128) {
        /* 2^128 blocks: more than any size_t length can ask for. */
        ctr->blocks_left_hi = UINT64_MAX;
        ctr->blocks_left_lo = UINT64_MAX;
    } else if (counter_bits >= 64) {
        ctr->blocks_left_hi = (uint64_t)1 << (counter_bits - 64);
    } else {
        ctr->blocks_left_lo = (uint64_t)1 << counter_bits;
    }
    return KS_OK;
}

static uint64_t load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) {
        p[i] = (uint8_t)v;
    }
}

/* counter += n modulo 2^bits, leaving the bits above the field untouched. */
static void counter_add(uint8_t counter[16], uint64_t n, unsigned bits)
{
    uint64_t hi = load_be64(counter);
    uint64_t lo = load_be64(counter + 8);
    uint64_t mask_lo = bits >= 64 ? UINT64_MAX : ((uint64_t)1 << bits) - 1;
    uint64_t mask_hi = bits >= 128 ? UINT64_MAX : bits > 64 ? ((uint64_t)1 << (bits - 64)) - 1 : 0;

    uint64_t new_lo = (lo & mask_lo) + n;
    uint64_t carry = bits > 64 && new_lo < (lo & mask_lo);
    uint64_t new_hi = (hi & mask_hi) + carry;
    lo = (lo & ~mask_lo) | (new_lo & mask_lo);
    hi = (hi & ~mask_hi) | (new_hi & mask_hi);
    store_be64(counter, hi);
    store_be64(counter + 8, lo);
}

/* Blocks that can be processed from here before the low min(bits, 32) bits wrap. */
static uint64_t run_limit(const uint8_t counter[16], unsigned bits)
{
    uint32_t w = ((uint32_t)counter[12] << 24) | ((uint32_t)counter[13] << 16) |
                 ((uint32_t)counter[14] << 8) | counter[15];
    uint64_t mask = bits >= 32 ? 0xffffffffu : ((uint64_t)1 << bits) - 1;
    return mask - (w & mask) + 1;
}

/* Take n fresh blocks from the budget, or refuse (128-bit count, hi:lo). */
static int take_blocks(ks_aes_ctr *ctr, uint64_t n)
{
    if (ctr->blocks_left_hi == 0 && ctr->blocks_left_lo < n) {
        return 0;
    }
    if (ctr->blocks_left_lo < n) {
        ctr->blocks_left_hi--;
    }
    ctr->blocks_left_lo -= n;
    return 1;
}

ks_status ks_aes_ctr_xor(const ks_aes_key *key, ks_aes_ctr *ctr, uint8_t *out,
                         const uint8_t *in, size_t len)
{
    if (key == NULL || ctr == NULL || (len > 0 && (out == NULL || in == NULL)) ||
        ctr->used > 16 || ctr->counter_bits < 1 || ctr->counter_bits > 128) {
        return KS_ERR_ARGS;
    }
    size_t held = 16 - ctr->used;
    size_t first = len < held ? len : held;
    size_t rest = len - first;
    uint64_t need = rest / 16 + (rest % 16 != 0);
    if (!take_blocks(ctr, need)) {
        return KS_ERR_LEN;
    }

    /* 1. Keystream left over from the previous call. */
    for (size_t i = 0; i < first; i++) {
        out[i] = in[i] ^ ctr->keystream[ctr->used + i];
    }
    ctr->used += (unsigned)first;
    out += first;
    in += first;

    /* 2. Whole blocks, in runs the 32-bit kernel can take without a wrap. */
    uint64_t full = rest / 16;
    while (full > 0) {
        uint64_t run = run_limit(ctr->counter, ctr->counter_bits);
        if (run > full) {
            run = full;
        }
        ks_status st = ks_aes_ctr32_xor(key, ctr->counter, out, in, (size_t)run);
        if (st != KS_OK) {
            return st;
        }
        counter_add(ctr->counter, run, ctr->counter_bits);
        out += 16 * run;
        in += 16 * run;
        full -= run;
    }

    /* 3. A partial block: keep its unused keystream for the next call. */
    size_t tail = rest % 16;
    if (tail > 0) {
        ks_status st = ks_aes_encrypt_blocks(key, ctr->keystream, ctr->counter, 1);
        if (st != KS_OK) {
            return st;
        }
        counter_add(ctr->counter, 1, ctr->counter_bits);
        for (size_t i = 0; i < tail; i++) {
            out[i] = in[i] ^ ctr->keystream[i];
        }
        ctr->used = (unsigned)tail;
    }
    return KS_OK;
}
