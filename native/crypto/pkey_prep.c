/* pkey_prep.c - prepared keys (pkey_prep.h): a parsed EVP_PKEY, its kind and size computed
 * once, and ready contexts under tags. The contexts are guarded by the key's own mutex, held
 * only to find or store one (a stored context is read-only afterwards). */
#include "crypto/pkey_prep.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct kept_ctx {
    uint8_t tag[KS_PKEY_TAG_MAX];
    size_t tag_len;
    void *ctx;
    void (*dispose)(void *ctx);
} kept_ctx;

struct ks_pkey {
    EVP_PKEY *evp;
    ks_pkey_kind kind;
    size_t bits;
    int refs; /* atomic */
    pthread_mutex_t lock;
    kept_ctx kept[KS_PKEY_CONTEXTS];
    size_t nkept;
};

static int named_curve_ok(const EVP_PKEY *pkey)
{
    char name[64];
    size_t n = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name),
                                       &n) != 1) {
        return 0; /* explicit parameters: not a named curve */
    }
    return strcmp(name, "prime256v1") == 0 || strcmp(name, "P-256") == 0 ||
           strcmp(name, "secp384r1") == 0 || strcmp(name, "P-384") == 0 ||
           strcmp(name, "secp521r1") == 0 || strcmp(name, "P-521") == 0;
}

static void classify(ks_pkey *k)
{
    const EVP_PKEY *p = k->evp;
    if (EVP_PKEY_is_a(p, "RSA")) {
        k->kind = KS_PKEY_RSA;
        k->bits = (size_t)EVP_PKEY_get_bits(p);
    } else if (EVP_PKEY_is_a(p, "EC")) {
        k->kind = named_curve_ok(p) ? KS_PKEY_EC : KS_PKEY_OTHER;
        k->bits = (size_t)EVP_PKEY_get_bits(p); /* the order's bits */
    } else if (EVP_PKEY_is_a(p, "ED25519")) {
        k->kind = KS_PKEY_ED25519;
    } else if (EVP_PKEY_is_a(p, "ED448")) {
        k->kind = KS_PKEY_ED448;
    } else {
        k->kind = KS_PKEY_OTHER;
    }
}

ks_pkey *ks_pkey_prepare(const uint8_t *der, size_t len, int is_private)
{
    if (der == NULL || len == 0 || len > (size_t)INT32_MAX) {
        return NULL;
    }
    const unsigned char *p = der;
    EVP_PKEY *evp = is_private ? d2i_AutoPrivateKey(NULL, &p, (long)len)
                               : d2i_PUBKEY(NULL, &p, (long)len);
    if (evp == NULL) {
        return NULL;
    }
    if ((size_t)(p - der) != len) {
        EVP_PKEY_free(evp); /* trailing bytes: not the DER of one key */
        return NULL;
    }
    ks_pkey *k = calloc(1, sizeof(*k));
    if (k == NULL || pthread_mutex_init(&k->lock, NULL) != 0) {
        free(k);
        EVP_PKEY_free(evp);
        return NULL;
    }
    k->evp = evp;
    k->refs = 1;
    classify(k);
    return k;
}

ks_pkey *ks_pkey_ref(ks_pkey *key)
{
    if (key != NULL) {
        __atomic_add_fetch(&key->refs, 1, __ATOMIC_RELAXED);
    }
    return key;
}

void ks_pkey_free(ks_pkey *key)
{
    if (key == NULL || __atomic_sub_fetch(&key->refs, 1, __ATOMIC_ACQ_REL) != 0) {
        return;
    }
    for (size_t i = 0; i < key->nkept; i++) {
        key->kept[i].dispose(key->kept[i].ctx);
    }
    pthread_mutex_destroy(&key->lock);
    EVP_PKEY_free(key->evp);
    free(key);
}

ks_pkey_kind ks_pkey_kind_of(const ks_pkey *key, size_t *bits)
{
    if (bits != NULL) {
        *bits = key != NULL ? key->bits : 0;
    }
    return key != NULL ? key->kind : KS_PKEY_OTHER;
}

void *ks_pkey_evp(const ks_pkey *key)
{
    return key != NULL ? key->evp : NULL;
}

static const kept_ctx *find_locked(const ks_pkey *key, const void *tag, size_t tag_len)
{
    for (size_t i = 0; i < key->nkept; i++) {
        if (key->kept[i].tag_len == tag_len && memcmp(key->kept[i].tag, tag, tag_len) == 0) {
            return &key->kept[i];
        }
    }
    return NULL;
}

const void *ks_pkey_context(ks_pkey *key, const void *tag, size_t tag_len)
{
    if (key == NULL || tag == NULL || tag_len > KS_PKEY_TAG_MAX) {
        return NULL;
    }
    pthread_mutex_lock(&key->lock);
    const kept_ctx *k = find_locked(key, tag, tag_len);
    const void *ctx = k != NULL ? k->ctx : NULL;
    pthread_mutex_unlock(&key->lock);
    return ctx;
}

const void *ks_pkey_keep(ks_pkey *key, const void *tag, size_t tag_len, void *ctx,
                         void (*dispose)(void *ctx))
{
    if (key == NULL || tag == NULL || tag_len > KS_PKEY_TAG_MAX || ctx == NULL ||
        dispose == NULL) {
        if (ctx != NULL && dispose != NULL) {
            dispose(ctx);
        }
        return NULL;
    }
    pthread_mutex_lock(&key->lock);
    const kept_ctx *found = find_locked(key, tag, tag_len);
    const void *stored = found != NULL ? found->ctx : NULL;
    if (found == NULL && key->nkept < KS_PKEY_CONTEXTS) {
        kept_ctx *slot = &key->kept[key->nkept++];
        memcpy(slot->tag, tag, tag_len);
        slot->tag_len = tag_len;
        slot->ctx = ctx;
        slot->dispose = dispose;
        stored = ctx;
        ctx = NULL;
    }
    pthread_mutex_unlock(&key->lock);
    if (ctx != NULL) {
        dispose(ctx);
    }
    return stored;
}
