/* rsa.c - the raw RSA operations and the implicit-rejection key derivation key, through
 * libcrypto 3 (EVP_PKEY, RSA_NO_PADDING). */
#include "crypto/rsa.h"

#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "crypto/mem.h"

EVP_PKEY *ks_rsa_from_der(const uint8_t *der, size_t der_len, int private_key)
{
    if (der == NULL || der_len == 0 || der_len > LONG_MAX) {
        return NULL;
    }
    const unsigned char *p = der;
    EVP_PKEY *pkey = NULL;
    if (private_key) {
        PKCS8_PRIV_KEY_INFO *p8 = d2i_PKCS8_PRIV_KEY_INFO(NULL, &p, (long)der_len);
        if (p8 != NULL && p == der + der_len) {
            pkey = EVP_PKCS82PKEY(p8);
        }
        PKCS8_PRIV_KEY_INFO_free(p8);
    } else {
        pkey = d2i_PUBKEY(NULL, &p, (long)der_len);
        if (pkey != NULL && p != der + der_len) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }
    }
    ERR_clear_error();
    if (pkey != NULL && EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    return pkey;
}

EVP_PKEY *ks_rsa_ref(EVP_PKEY *pkey)
{
    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA ||
        EVP_PKEY_up_ref(pkey) != 1) {
        return NULL;
    }
    return pkey;
}

void ks_rsa_free(EVP_PKEY *pkey)
{
    EVP_PKEY_free(pkey);
}

size_t ks_rsa_size(const EVP_PKEY *pkey)
{
    if (pkey == NULL || EVP_PKEY_get_base_id(pkey) != EVP_PKEY_RSA) {
        return 0;
    }
    int n = EVP_PKEY_get_size(pkey);
    return n > 0 ? (size_t)n : 0;
}

/* below_modulus returns 1 when the k-byte big-endian value in is below n (public data). */
static ks_status below_modulus(EVP_PKEY *pkey, const uint8_t *in, size_t k)
{
    BIGNUM *n = NULL, *v = BN_bin2bn(in, (int)k, NULL);
    ks_status st = KS_ERR_INTERNAL;
    if (v != NULL && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) == 1) {
        st = BN_ucmp(v, n) < 0 ? KS_OK : KS_ERR_LEN;
    }
    BN_free(n);
    BN_clear_free(v);
    ERR_clear_error();
    return st;
}

static ks_status raw(EVP_PKEY *pkey, uint8_t *out, const uint8_t *in, size_t in_len,
                     int private_key)
{
    size_t k = ks_rsa_size(pkey);
    if (out == NULL || in == NULL || k == 0) {
        return KS_ERR_ARGS;
    }
    if (in_len != k) {
        return KS_ERR_LEN;
    }
    ks_status st = below_modulus(pkey, in, k);
    if (st != KS_OK) {
        return st;
    }
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(pkey, NULL);
    size_t out_len = k;
    st = KS_ERR_INTERNAL;
    if (ctx != NULL &&
        (private_key ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx)) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) == 1 &&
        (private_key ? EVP_PKEY_decrypt(ctx, out, &out_len, in, in_len)
                     : EVP_PKEY_encrypt(ctx, out, &out_len, in, in_len)) == 1 &&
        out_len == k) {
        st = KS_OK;
    }
    EVP_PKEY_CTX_free(ctx);
    ERR_clear_error();
    if (st != KS_OK) {
        ks_wipe(out, k);
    }
    return st;
}

ks_status ks_rsa_public_raw(EVP_PKEY *pkey, uint8_t *out, const uint8_t *in, size_t in_len)
{
    return raw(pkey, out, in, in_len, 0);
}

ks_status ks_rsa_private_raw(EVP_PKEY *pkey, uint8_t *out, const uint8_t *in, size_t in_len)
{
    return raw(pkey, out, in, in_len, 1);
}

ks_status ks_rsa_ir_kdk(EVP_PKEY *pkey, uint8_t kdk[KS_RSA_KDK_LEN], const uint8_t *c,
                        size_t c_len)
{
    size_t k = ks_rsa_size(pkey);
    if (kdk == NULL || c == NULL || k == 0) {
        return KS_ERR_ARGS;
    }
    if (c_len != k) {
        return KS_ERR_LEN;
    }
    BIGNUM *d = NULL;
    uint8_t *d_bytes = ks_secure_alloc(k);
    ks_status st = d_bytes == NULL ? KS_ERR_NOMEM : KS_ERR_INTERNAL;
    if (d_bytes != NULL && EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_D, &d) == 1 &&
        BN_bn2binpad(d, d_bytes, (int)k) == (int)k) {
        ks_rsa_ir_kdk_from_d(kdk, d_bytes, c, k);
        st = KS_OK;
    }
    BN_clear_free(d);
    ks_secure_free(d_bytes, k);
    ERR_clear_error();
    return st;
}
