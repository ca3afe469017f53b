/* x963kdf.c - the ANSI X9.63 KDF (SEC 1 v2.0 3.6.1) over crypto/digest.h. */
#include "crypto/x963kdf.h"

#include <string.h>

#include "crypto/mem.h"

static ks_status one_block(ks_md md, uint8_t block[KS_MD_MAX_SIZE], uint32_t counter,
                           const uint8_t *z, size_t z_len, const uint8_t *info,
                           size_t info_len)
{
    const uint8_t be[4] = {(uint8_t)(counter >> 24), (uint8_t)(counter >> 16),
                           (uint8_t)(counter >> 8), (uint8_t)counter};
    ks_digest_ctx ctx;
    ks_status st = ks_digest_init(&ctx, md);
    if (st == KS_OK) {
        st = ks_digest_update(&ctx, z, z_len);
    }
    if (st == KS_OK) {
        st = ks_digest_update(&ctx, be, sizeof(be));
    }
    if (st == KS_OK) {
        st = ks_digest_update(&ctx, info, info_len);
    }
    if (st == KS_OK) {
        st = ks_digest_final(&ctx, block, KS_MD_MAX_SIZE);
    }
    ks_digest_clear(&ctx);
    return st;
}

ks_status ks_x963_kdf(ks_md md, uint8_t *out, size_t out_len, const uint8_t *z, size_t z_len,
                      const uint8_t *info, size_t info_len)
{
    size_t h = ks_md_size(md);
    if (out == NULL || out_len == 0 || z == NULL || z_len == 0 ||
        (info == NULL && info_len != 0) || h == 0) {
        return KS_ERR_ARGS;
    }
    if ((out_len - 1) / h >= (size_t)UINT32_MAX) {
        return KS_ERR_LEN; /* the 32-bit counter would wrap */
    }
    uint8_t block[KS_MD_MAX_SIZE];
    ks_status st = KS_OK;
    uint32_t counter = 1;
    for (size_t done = 0; done < out_len && st == KS_OK; done += h, counter++) {
        st = one_block(md, block, counter, z, z_len, info, info_len);
        if (st == KS_OK) {
            size_t take = out_len - done < h ? out_len - done : h;
            memcpy(out + done, block, take);
        }
    }
    ks_wipe(block, sizeof(block));
    if (st != KS_OK) {
        ks_wipe(out, out_len);
    }
    return st;
}
