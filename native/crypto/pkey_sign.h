/* pkey_sign.h - public-key signatures through libcrypto: RSA PKCS#1 v1.5 and PSS (RFC 8017
 * 8.1, 8.2), ECDSA (FIPS 186-4 6, SEC 1 4.1) on P-256, P-384 and P-521, and pure EdDSA
 * (RFC 8032 5.1, 5.2: Ed25519 and Ed448), over bytes and prepared keys. No PKCS#11 types.
 *
 * Keys are prepared keys (crypto/pkey_prep.h): parsed once, shared by reference, and holding
 * the ready libcrypto contexts each operation copies.
 *
 * Every signing input here is what the signature primitive itself takes (the hashing of the
 * hashed variants is the caller's, with crypto/digest.h):
 * - RSA PKCS#1 v1.5 with md = KS_MD_NONE: the data to pad as given (a DigestInfo, or anything
 *   up to k - 11 bytes); with an md: that md's hash, wrapped into its DigestInfo here;
 * - RSA PSS: the hash of md (exactly its length); the MGF1 hash and the salt length are
 *   parameters;
 * - ECDSA: a hash of any length, truncated to the bit length of the group order (SEC 1
 *   4.1.3 step 5); the signature is r || s, each left-padded to the order's byte length;
 * - EdDSA: the whole message (PureEdDSA hashes it twice, so no streaming).
 *
 * Verification answers KS_ERR_LEN for a signature of the wrong length (decided by the length
 * alone) and KS_ERR_AUTH for every other failure: a malformed, zero, out-of-range or simply
 * wrong signature. It never crashes on any input. */
#ifndef KS_CRYPTO_PKEY_SIGN_H
#define KS_CRYPTO_PKEY_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/digest.h"
#include "crypto/pkey_prep.h"
#include "crypto/status.h"

typedef enum ks_sig_alg {
    KS_SIG_RSA_PKCS1,
    KS_SIG_RSA_PSS,
    KS_SIG_ECDSA,
    KS_SIG_EDDSA,
} ks_sig_alg;

typedef struct ks_sig_spec {
    ks_sig_alg alg;
    ks_md md;        /* RSA: the hash (KS_MD_NONE: raw PKCS#1 v1.5 data); else unused */
    ks_md mgf1_md;   /* PSS: MGF1's hash */
    size_t salt_len; /* PSS: salt bytes */
} ks_sig_spec;

/* ks_sig_size is the signature length of alg under pkey: RSA k (the modulus bytes), ECDSA
 * twice the order's bytes, Ed25519 64, Ed448 114; 0 when alg does not fit pkey's kind. */
size_t ks_sig_size(const ks_pkey *pkey, ks_sig_alg alg);

/* ks_sig_max_input is the longest input ks_sig_sign takes: k - 11 for raw PKCS#1 v1.5, the
 * hash length for hashed PKCS#1 v1.5 and PSS (which take exactly that many bytes),
 * SIZE_MAX for ECDSA and EdDSA. */
size_t ks_sig_max_input(const ks_pkey *pkey, const ks_sig_spec *spec);

/* ks_sig_check says whether spec fits pkey: KS_ERR_KEY_LEN when the kind does not fit,
 * KS_ERR_ARGS when a PSS salt does not fit the modulus (RFC 8017 9.1.1 step 3: emLen >=
 * hLen + sLen + 2) or a hash is unknown. */
ks_status ks_sig_check(const ks_pkey *pkey, const ks_sig_spec *spec);

/* A signing or verification context bound to one key and one spec. Its libcrypto context is
 * a copy of the one the prepared key keeps for the spec (made at the key's first use with
 * it), taken at ks_sig_ctx_init and reused by each call on it. */
typedef struct ks_sig_ctx {
    void *pctx;      /* EVP_PKEY_CTX (RSA, ECDSA) */
    void *mdctx;     /* EVP_MD_CTX (EdDSA) */
    ks_pkey *pkey;   /* one reference */
    ks_sig_spec spec;
    size_t sig_len;
    size_t field_len; /* ECDSA: bytes of r and of s */
    int verify;
} ks_sig_ctx;

/* ks_sig_ctx_init binds ctx to pkey (taking a reference) for signing or verification.
 * Errors as ks_sig_check, KS_ERR_NOMEM, KS_ERR_INTERNAL. On error ctx holds nothing. */
ks_status ks_sig_ctx_init(ks_sig_ctx *ctx, ks_pkey *pkey, const ks_sig_spec *spec,
                          int verify);

/* ks_sig_sign writes the signature of in (see above) to sig (max_sig >= ks_sig_size) and sets
 * *sig_len. KS_ERR_LEN when in_len is not allowed (longer than ks_sig_max_input; for PSS and
 * hashed PKCS#1 v1.5 not exactly the hash length). The context stays usable. */
ks_status ks_sig_sign(ks_sig_ctx *ctx, uint8_t *sig, size_t max_sig, size_t *sig_len,
                      const uint8_t *in, size_t in_len);

/* ks_sig_verify checks sig over in: KS_OK, KS_ERR_LEN (signature length), KS_ERR_AUTH. */
ks_status ks_sig_verify(ks_sig_ctx *ctx, const uint8_t *sig, size_t sig_len,
                        const uint8_t *in, size_t in_len);

/* ks_sig_ctx_clear releases what ctx holds; a cleared or zeroed ctx is allowed. */
void ks_sig_ctx_clear(ks_sig_ctx *ctx);

/* ks_ecdsa_der_to_raw / ks_ecdsa_raw_to_der convert between an ECDSA-Sig-Value (SEC 1
 * C.5, DER) and r || s of field_len bytes each. der_to_raw fails (KS_ERR_AUTH) on anything
 * but a canonical SEQUENCE of two non-negative INTEGERs that fit; raw_to_der writes the
 * minimal encoding (out holds at least 2 * field_len + 9 bytes). */
ks_status ks_ecdsa_der_to_raw(uint8_t *raw, size_t field_len, const uint8_t *der,
                              size_t der_len);
ks_status ks_ecdsa_raw_to_der(uint8_t *der, size_t max_der, size_t *der_len,
                              const uint8_t *raw, size_t field_len);

#endif
