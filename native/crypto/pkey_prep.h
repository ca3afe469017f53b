/* pkey_prep.h - prepared keys: libcrypto's parsed key (EVP_PKEY) with the facts the signature
 * code asks on every operation (its kind, its size) computed once, and the libcrypto contexts
 * already set up for the operations made with it, so that an operation copies a ready context
 * instead of looking up algorithms again (OpenSSL 3's fetches) on every call.
 *
 * A prepared key is reference counted (atomically: any thread may take and drop a reference).
 * The token keeps one per key-pair object while the object is unchanged (token/object.h) and
 * every operation takes its own reference. No PKCS#11 types. */
#ifndef KS_CRYPTO_PKEY_PREP_H
#define KS_CRYPTO_PKEY_PREP_H

#include <stddef.h>
#include <stdint.h>

typedef enum ks_pkey_kind {
    KS_PKEY_OTHER = 0, /* anything else, EC keys on other curves included */
    KS_PKEY_RSA,
    KS_PKEY_EC,        /* named curve P-256, P-384 or P-521 */
    KS_PKEY_ED25519,
    KS_PKEY_ED448,
} ks_pkey_kind;

typedef struct ks_pkey ks_pkey;

/* ks_pkey_prepare parses a PKCS#8 PrivateKeyInfo (is_private) or a SubjectPublicKeyInfo DER,
 * which must be exactly len bytes, into a prepared key with one reference; NULL when it does
 * not parse or memory runs out. */
ks_pkey *ks_pkey_prepare(const uint8_t *der, size_t len, int is_private);

/* ks_pkey_ref takes one more reference (returns key); ks_pkey_free drops one and frees the
 * key and its contexts with the last (NULL is allowed). */
ks_pkey *ks_pkey_ref(ks_pkey *key);
void ks_pkey_free(ks_pkey *key);

/* ks_pkey_kind_of says what key is; *bits (when not NULL) gets the RSA modulus bits or the
 * EC order bits (0 for EdDSA). NULL is KS_PKEY_OTHER. */
ks_pkey_kind ks_pkey_kind_of(const ks_pkey *key, size_t *bits);

/* ks_pkey_evp is the EVP_PKEY (borrowed: valid while a reference is held). */
void *ks_pkey_evp(const ks_pkey *key);

/* Ready contexts, kept under a caller's tag (the operation and its parameters, compared
 * bytewise, at most KS_PKEY_TAG_MAX bytes). A context stored is never changed again: callers
 * copy it. ks_pkey_context returns the one stored under tag or NULL. ks_pkey_keep stores ctx
 * under tag and passes it to the key (freed with dispose with the key); when the tag is
 * taken already or the key holds KS_PKEY_CONTEXTS, ctx is disposed of at once. Returns the
 * context now stored under tag (NULL when none). */
#define KS_PKEY_TAG_MAX 48
#define KS_PKEY_CONTEXTS 8
const void *ks_pkey_context(ks_pkey *key, const void *tag, size_t tag_len);
const void *ks_pkey_keep(ks_pkey *key, const void *tag, size_t tag_len, void *ctx,
                         void (*dispose)(void *ctx));

#endif
