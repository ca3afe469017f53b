/* rsa_pad.h - RSA encryption paddings over the raw RSA block: PKCS#1 v1.5 (RFC 8017 7.2,
 * EME-PKCS1-v1_5) and OAEP (RFC 8017 7.1, EME-OAEP with MGF1), encoding and decoding.
 *
 * WARNING: the decoders run over the result of the private-key operation, which is secret.
 * They read every byte of the block, compute validity as a mask and move the message with a
 * fixed pattern of masked copies (O(k log k)), so neither the time nor the memory addresses
 * depend on the block's contents (Bleichenbacher, Manger, Marvin). Every padding failure is
 * the one status KS_ERR_AUTH, decided in one place at the end.
 *
 * PKCS#1 v1.5 decoding can reject implicitly (the IRTF CFRG's "Implementation Guidance for
 * the PKCS #1 RSA Cryptography Specification", draft-irtf-cfrg-rsa-guidance, the
 * implicit-rejection depadding; OpenSSL 3.2 implements the same): given the key derivation
 * key (ks_rsa_ir_kdk, from the private exponent and the ciphertext) a padding failure returns
 * KS_OK and a synthetic message of pseudo-random length and contents that only the holder of
 * the private key can compute, so the output itself is no oracle.
 *
 * Buffers: em is the k-byte block (the RSA result, left-padded with zeros to k bytes). A
 * decoder writes its output to out, module memory of at least the scheme's largest message
 * (ks_rsa_pkcs1_max_msg / ks_rsa_oaep_max_msg), all of which it writes (the message, then
 * zeros); the caller copies *out_len bytes onward. */
#ifndef KS_CRYPTO_RSA_PAD_H
#define KS_CRYPTO_RSA_PAD_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/digest.h"
#include "crypto/status.h"

#define KS_RSA_KDK_LEN 32
#define KS_RSA_MIN_BYTES 64   /* 512-bit modulus: below it no padding here applies */
#define KS_RSA_MAX_BYTES 2048 /* 16384-bit modulus */

/* Largest message of each scheme for a k-byte modulus; 0 when k cannot carry one. */
size_t ks_rsa_pkcs1_max_msg(size_t k);
size_t ks_rsa_oaep_max_msg(size_t k, ks_md md);

/* ks_rsa_pkcs1_encode writes EM = 0x00 || 0x02 || PS || 0x00 || M (k bytes; PS random,
 * non-zero, at least 8 bytes). KS_ERR_LEN when msg_len > k - 11 or k is outside
 * [KS_RSA_MIN_BYTES, KS_RSA_MAX_BYTES]; KS_ERR_INTERNAL when the DRBG fails. */
ks_status ks_rsa_pkcs1_encode(uint8_t *em, size_t k, const uint8_t *msg, size_t msg_len);

/* ks_rsa_oaep_encode writes EM (k bytes) for msg under hash md, MGF1 with mgf_md and the
 * label (label may be NULL when label_len is 0). KS_ERR_LEN when msg_len > k - 2 hLen - 2;
 * KS_ERR_ARGS for an unknown md; KS_ERR_INTERNAL when the DRBG or a digest fails. */
ks_status ks_rsa_oaep_encode(uint8_t *em, size_t k, const uint8_t *msg, size_t msg_len,
                             ks_md md, ks_md mgf_md, const uint8_t *label, size_t label_len);

/* ks_rsa_pkcs1_decode decodes EM (RFC 8017 7.2.2 step 3) into out (max_out at least
 * ks_rsa_pkcs1_max_msg(k), else KS_ERR_LEN before reading em).
 * kdk NULL: explicit rejection, KS_ERR_AUTH for every padding failure (out wiped).
 * kdk given (KS_RSA_KDK_LEN bytes, ks_rsa_ir_kdk): implicit rejection, always KS_OK; on a
 * padding failure out and *out_len are the synthetic message of the draft. */
ks_status ks_rsa_pkcs1_decode(uint8_t *out, size_t *out_len, size_t max_out,
                              const uint8_t *em, size_t k, const uint8_t *kdk);

/* ks_rsa_pkcs1_decode_key decodes EM carrying a key whose length is one of lens (n_lens of
 * them, at most KS_RSA_KEY_LENS, each 1 .. ks_rsa_pkcs1_max_msg(k)) under implicit
 * rejection, for C_UnwrapKey: out (max_out at least the longest) gets M and *out_len its
 * length when the padding is valid and M's length is one of lens; otherwise a synthetic key
 * from ks_rsa_ir_prf(kdk, "key"), of one of lens chosen by ks_rsa_ir_prf(kdk, "key length"):
 * the same for the same ciphertext and private key, and of a length the caller expected
 * anyway, so neither the length nor the value tells a malformed blob from a valid one (a
 * fixed-length variant of the draft's synthetic message, as TLS 1.2 substitutes a premaster
 * secret, RFC 5246 7.4.7.1). Always KS_OK on valid arguments. */
#define KS_RSA_KEY_LENS 8
ks_status ks_rsa_pkcs1_decode_key(uint8_t *out, size_t *out_len, size_t max_out,
                                  const size_t *lens, size_t n_lens, const uint8_t *em,
                                  size_t k, const uint8_t *kdk);

/* ks_rsa_oaep_decode decodes EM (RFC 8017 7.1.2 step 3) into out (max_out at least
 * ks_rsa_oaep_max_msg(k, md), else KS_ERR_LEN). KS_ERR_AUTH for every failure: the first
 * byte, the label hash, the separator (out wiped). */
ks_status ks_rsa_oaep_decode(uint8_t *out, size_t *out_len, size_t max_out,
                             const uint8_t *em, size_t k, ks_md md, ks_md mgf_md,
                             const uint8_t *label, size_t label_len);

/* ks_rsa_ir_prf is the draft's pseudo-random function: out_len bytes of
 * HMAC-SHA256(kdk, I2OSP(i, 2) || label || I2OSP(out_len * 8, 2)) for i = 0, 1, ...
 * KS_ERR_LEN when out_len * 8 does not fit 16 bits. */
ks_status ks_rsa_ir_prf(uint8_t *out, size_t out_len, const uint8_t kdk[KS_RSA_KDK_LEN],
                        const char *label, size_t label_len);

/* ks_rsa_ir_kdk_from_d computes the draft's key derivation key
 * KDK = HMAC-SHA256(SHA256(I2OSP(d, k)), C) from d (the private exponent as k big-endian
 * bytes) and the k-byte ciphertext c. */
void ks_rsa_ir_kdk_from_d(uint8_t kdk[KS_RSA_KDK_LEN], const uint8_t *d, const uint8_t *c,
                          size_t k);

/* ks_rsa_mgf1_xor xors MGF1(seed, out_len) with hash md into buf (RFC 8017 B.2.1). */
ks_status ks_rsa_mgf1_xor(uint8_t *buf, size_t buf_len, ks_md md, const uint8_t *seed,
                          size_t seed_len);

#endif
