/* wrap_policy.c - the strict wrap policy (see wrap_policy.h for the attacks it stops). */
#include "token/wrap_policy.h"

#include <string.h>

#include "crypto/mem.h"
#include "crypto/sha256.h"
#include "keystead.h"
#include "token/mech.h"
#include "token/object.h"
#include "token/rules.h"

int ks_wrap_policy_value_known(const ks_attrs *key)
{
    /* A public key is public, and whether its private half is inside a token cannot be
     * known: as a wrapping key it is an untrusted KEK unless the SO trusts it (docs/policy.md,
     * "Key pairs"). */
    CK_ULONG cls = CKO_SECRET_KEY;
    ks_attrs_get_ulong(key, CKA_CLASS, &cls);
    if (cls == CKO_PUBLIC_KEY) {
        return 1;
    }
    /* Imported, or unwrapped under a key that guards no secret (CKA_KS_VALUE_KNOWN). */
    if (ks_attrs_bool(key, CKA_KS_VALUE_KNOWN, CK_TRUE) == CK_TRUE) {
        return 1;
    }
    /* Readable now: not sensitive and extractable (PKCS#11 3.0 4.10). */
    if (ks_attrs_bool(key, CKA_SENSITIVE, CK_TRUE) != CK_TRUE &&
        ks_attrs_bool(key, CKA_EXTRACTABLE, CK_FALSE) == CK_TRUE) {
        return 1;
    }
    /* Generated here and readable at some time since: once not sensitive and once
     * extractable (conservatively, not necessarily at once). An unwrapped key has neither
     * history attribute set by the specification, but the strict profile makes it sensitive
     * from birth (rule 4): it has never been readable. */
    if (ks_attrs_bool(key, CKA_LOCAL, CK_FALSE) == CK_TRUE) {
        return ks_attrs_bool(key, CKA_ALWAYS_SENSITIVE, CK_FALSE) != CK_TRUE &&
               ks_attrs_bool(key, CKA_NEVER_EXTRACTABLE, CK_FALSE) != CK_TRUE;
    }
    return 0;
}

/* A key "guards a secret" when its value is not known outside the token, or when the SO made
 * it trusted (a trusted key may wrap keys whose values are secret). Every strict rule exists
 * to protect such values; around keys whose values are known and that guard nothing, the
 * strict profile is as permissive as PKCS#11 itself, so known-answer tests with imported
 * keys behave as on any token: under a known, untrusted key only known keys can be wrapped
 * (rule 3), so nothing computed with it is secret. */
int ks_wrap_policy_guards_secret(const ks_attrs *key)
{
    return !ks_wrap_policy_value_known(key) ||
           ks_attrs_bool(key, CKA_TRUSTED, CK_FALSE) == CK_TRUE;
}

int ks_wrap_policy_unwraps_secret(const ks_attrs *kek)
{
    /* What a private key that guards secrets unwraps stays secret, as under a secret KEK: a
     * trusted public key wraps secret values for it, so marking them known would let them
     * leave under any known key. Anyone holding the public key can also make a blob of a
     * value they know; that value arrives as a data key (ks_wrap_policy_unwrapped fixes the
     * role), so it never guards anything and its secrecy protects nothing else
     * (docs/policy.md, "Key pairs"). */
    return ks_wrap_policy_guards_secret(kek);
}

static CK_ULONG value_len(const ks_attrs *key)
{
    CK_ULONG len = 0;
    if (!ks_attrs_get_ulong(key, CKA_VALUE_LEN, &len)) {
        const ks_attr *v = ks_attrs_find(key, CKA_VALUE);
        len = v ? v->len : 0;
    }
    return len;
}

/* rsa_strength: the security strength in bytes of an RSA modulus of bits bits (SP 800-57
 * Part 1 Rev. 5 table 2: 2048 gives 112 bits, 3072 128, 7680 192, 15360 256). */
static CK_ULONG rsa_strength(CK_ULONG bits)
{
    return bits >= 15360 ? 32 : bits >= 7680 ? 24 : bits >= 3072 ? 16 : bits >= 2048 ? 14 : 10;
}

/* curve_strength: the strength of the curve named by a DER OID in CKA_EC_PARAMS (P-256 and
 * the 25519 curves 16 bytes, P-384 24, Ed448 and X448 28, P-521 32); 32 for any other. */
static CK_ULONG curve_strength(const ks_attr *params)
{
    static const struct {
        uint8_t len;
        uint8_t der[10];
        CK_ULONG strength;
    } CURVES[] = {
        {10, {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}, 16},
        {7, {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22}, 24},
        {7, {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x23}, 32},
        {5, {0x06, 0x03, 0x2b, 0x65, 0x70}, 16}, /* Ed25519 */
        {5, {0x06, 0x03, 0x2b, 0x65, 0x6e}, 16}, /* X25519 */
        {5, {0x06, 0x03, 0x2b, 0x65, 0x71}, 28}, /* Ed448 */
        {5, {0x06, 0x03, 0x2b, 0x65, 0x6f}, 28}, /* X448 */
    };
    for (size_t i = 0; params != NULL && i < sizeof(CURVES) / sizeof(CURVES[0]); i++) {
        if (params->len == CURVES[i].len && memcmp(params->value, CURVES[i].der, params->len) == 0) {
            return CURVES[i].strength;
        }
    }
    return 32;
}

/* strength: rule 5's measure of a key, in bytes of security. An AES key of n bytes gives n*8
 * bits; generic and HMAC keys are capped at 256 bits (SP 800-57 Part 1 table 2 / SP
 * 800-107); RSA keys by modulus size, EC keys by curve. */
static CK_ULONG strength(const ks_attrs *key)
{
    CK_ULONG kt = (CK_ULONG)-1, bits = 0;
    ks_attrs_get_ulong(key, CKA_KEY_TYPE, &kt);
    switch (kt) {
    case CKK_AES:
        return value_len(key);
    case CKK_RSA:
        if (!ks_attrs_get_ulong(key, CKA_MODULUS_BITS, &bits)) {
            const ks_attr *n = ks_attrs_find(key, CKA_MODULUS);
            bits = n != NULL ? (CK_ULONG)n->len * 8 : 0;
        }
        return rsa_strength(bits);
    case CKK_EC:
    case CKK_EC_EDWARDS:
    case CKK_EC_MONTGOMERY:
        return curve_strength(ks_attrs_find(key, CKA_EC_PARAMS));
    default: {
        CK_ULONG len = value_len(key);
        return len > 32 ? 32 : len;
    }
    }
}

/* Only the authenticated key-wrapping modes carry keys in the strict profile. ECB, CBC and
 * CTR (and GCM with a caller's IV) as wrapping mechanisms give a caller raw block
 * operations under the wrapping key (Clulow 2003, key binding; an RFC 3394 wrapping computed
 * by hand from wrapped known keys), a keystream to XOR away (the same CTR counter or GCM IV
 * for a known key and a sensitive one), and truncation: a blob unwrapped with a smaller
 * CKA_VALUE_LEN gives a key of a few bytes of the secret, found by trying each value. */
static int key_wrap_mechanism(CK_MECHANISM_TYPE mech)
{
    return ks_mech_is_key_wrap(mech); /* the registry's KS_MECH_KEY_WRAP rows */
}

CK_FLAGS ks_wrap_policy_mech_flags(const ks_config *cfg, CK_MECHANISM_TYPE mech,
                                   CK_FLAGS flags)
{
    if (cfg->wrap_policy == KS_WRAP_POLICY_COMPAT || key_wrap_mechanism(mech)) {
        return flags;
    }
    return flags & ~(CK_FLAGS)(CKF_WRAP | CKF_UNWRAP);
}

/* A refusal of the strict profile, with the rule that made it for the call's log line. */
static CK_RV refuse(ks_why *why, CK_ATTRIBUTE_TYPE attr, const char *reason, CK_RV rv)
{
    why->attr = attr;
    why->reason = reason;
    return rv;
}

#define NO_ATTR ((CK_ATTRIBUTE_TYPE)-1)

CK_RV ks_wrap_policy_check_wrap(const ks_config *cfg, CK_MECHANISM_TYPE mech,
                                const ks_attrs *kek, const ks_attrs *key, ks_why *why)
{
    if (cfg->wrap_policy == KS_WRAP_POLICY_COMPAT) {
        return CKR_OK;
    }
    if (!ks_wrap_policy_guards_secret(kek)) {
        /* Rule 3: a known wrapping key wraps only known keys, and then nothing is secret. */
        return ks_wrap_policy_value_known(key)
                   ? CKR_OK
                   : refuse(why, NO_ATTR,
                            "wrap policy (strict), rule 3: a wrapping key whose value may be "
                            "known (imported, unwrapped, readable) wraps only keys whose values "
                            "are known, unless the SO trusts it",
                            CKR_KEY_FUNCTION_NOT_PERMITTED);
    }
    if (!key_wrap_mechanism(mech)) {
        return refuse(why, NO_ATTR,
                      "wrap policy (strict), rule 6: only the key-wrap mechanisms (AES-KW, "
                      "AES-KWP, RSA-OAEP, RSA-AES) carry secret keys; wrap_policy = compat "
                      "allows others",
                      CKR_MECHANISM_INVALID);
    }
    if (!ks_wrap_policy_guards_secret(key)) {
        return CKR_OK; /* rules 5 and 6 protect the wrapped value: this one is known */
    }
    /* Rule 5 by security strength. RSA-AES key wrap is no stronger than its temporary AES
     * key, at least 128 bits: counted as 128. */
    CK_ULONG have = strength(kek);
    if (mech == CKM_RSA_AES_KEY_WRAP && have > 16) {
        have = 16;
    }
    if (have < strength(key)) {
        return refuse(why, NO_ATTR,
                      "wrap policy (strict), rule 5: the wrapping key is weaker than the key "
                      "it wraps",
                      CKR_WRAPPING_KEY_SIZE_RANGE);
    }
    return CKR_OK;
}

/* The caller's template sets CKA_SENSITIVE to false. */
static int asks_not_sensitive(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count && tmpl != NULL; i++) {
        if (tmpl[i].type == CKA_SENSITIVE && tmpl[i].pValue != NULL &&
            tmpl[i].ulValueLen == sizeof(CK_BBOOL) &&
            *(const CK_BBOOL *)tmpl[i].pValue != CK_TRUE) {
            return 1;
        }
    }
    return 0;
}

CK_RV ks_wrap_policy_check_unwrap(const ks_config *cfg, CK_MECHANISM_TYPE mech,
                                  const ks_attrs *kek, ks_attrs *new_key, size_t value_len,
                                  const CK_ATTRIBUTE *tmpl, CK_ULONG count, ks_why *why)
{
    if (cfg->wrap_policy == KS_WRAP_POLICY_COMPAT || !ks_wrap_policy_guards_secret(kek)) {
        return CKR_OK; /* under a known, untrusted key every unwrapped value is known */
    }
    if (!key_wrap_mechanism(mech)) {
        return refuse(why, NO_ATTR,
                      "wrap policy (strict), rule 6: only the key-wrap mechanisms (AES-KW, "
                      "AES-KWP, RSA-OAEP, RSA-AES) carry secret keys; wrap_policy = compat "
                      "allows others",
                      CKR_MECHANISM_INVALID);
    }
    if (asks_not_sensitive(tmpl, count)) {
        return refuse(why, CKA_SENSITIVE,
                      "wrap policy (strict), rule 4: a key unwrapped under a key that guards "
                      "secrets stays sensitive; wrap_policy = compat allows CKA_SENSITIVE false",
                      CKR_TEMPLATE_INCONSISTENT);
    }
    if (ks_attrs_bool(new_key, CKA_SENSITIVE, CK_FALSE) != CK_TRUE) {
        CK_RV rv = ks_attrs_set_bool(new_key, CKA_SENSITIVE, CK_TRUE); /* the default */
        if (rv != CKR_OK) {
            return rv;
        }
    }
    CK_ULONG want = 0;
    if (ks_attrs_get_ulong(new_key, CKA_VALUE_LEN, &want) && want != value_len) {
        /* a truncated key is a few bytes of a secret */
        return refuse(why, CKA_VALUE_LEN,
                      "wrap policy (strict), rule 6: CKA_VALUE_LEN must be the unwrapped "
                      "value's length (no truncation)",
                      CKR_TEMPLATE_INCONSISTENT);
    }
    return CKR_OK;
}

/* The role registry keys values by HMAC-SHA-256(token key, "keystead role" || value): equal
 * values meet, and the fingerprint reveals nothing without the token key. Computed on every
 * wrap and unwrap, so with the in-tree HMAC (crypto/sha256.h): no libcrypto context is
 * allocated per call. */
static CK_RV fingerprint(const ks_token *tok, const ks_attr *value, uint8_t out[32])
{
    static const uint8_t label[] = "keystead role";
    if (tok->token_key == NULL) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    ks_hmac_sha256_ctx mac;
    ks_hmac_sha256_init(&mac, tok->token_key, KS_TOKEN_KEY_LEN);
    ks_hmac_sha256_update(&mac, label, sizeof(label) - 1);
    ks_hmac_sha256_update(&mac, value->value, value->len);
    ks_hmac_sha256_final(&mac, out);
    return CKR_OK;
}

CK_RV ks_value_uses_name(const ks_token *tok, const ks_attrs *key,
                         char name[KS_VALUE_USES_NAME_LEN])
{
    static const char hex[] = "0123456789abcdef";
    /* the value a mechanism reads: CKA_VALUE of a secret key, a private key's sealed PKCS#8,
     * a public key's SubjectPublicKeyInfo (the class table's value attribute) */
    const ks_class_desc *c = ks_class_find(ks_object_class_of(key));
    const ks_attr *value = c == NULL || c->value_attr == KS_NO_VALUE_ATTR
                               ? NULL
                               : ks_attrs_find(key, c->value_attr);
    if (value == NULL || value->len == 0) {
        return CKR_KEY_HANDLE_INVALID;
    }
    uint8_t fp[32];
    CK_RV rv = fingerprint(tok, value, fp);
    if (rv != CKR_OK) {
        return rv;
    }
    memcpy(name, "use:", 4);
    for (size_t i = 0; i < 24; i++) {
        name[4 + 2 * i] = hex[fp[i] >> 4];
        name[4 + 2 * i + 1] = hex[fp[i] & 15];
    }
    name[4 + 48] = '\0';
    ks_wipe(fp, sizeof(fp));
    return CKR_OK;
}

/* The counter that holds the role of the value with fingerprint fp: "role:" and 192 bits of
 * the fingerprint in hex (counter names are at most 64 characters). */
static void role_name(const uint8_t fp[32], char name[5 + 48 + 1])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(name, "role:", 5);
    for (size_t i = 0; i < 24; i++) {
        name[5 + 2 * i] = hex[fp[i] >> 4];
        name[5 + 2 * i + 1] = hex[fp[i] & 15];
    }
    name[5 + 48] = '\0';
}

/* The role of a value is a token-wide counter named after its fingerprint: adding the role
 * with the role itself as the limit succeeds only on a value that has none yet, atomically
 * across processes; afterwards the counter holds the role for good. With role NONE only
 * reads the role. A role the store holds never changes, so once this process has read or
 * committed it, the token's role cache answers for it (role_cache.h); a value without a role
 * in the store is always asked of the store. */
typedef enum role_commit {
    ROLE_SYNCED,   /* the commit is on disk when it returns */
    ROLE_UNSYNCED, /* visible at once, durable with the next synced commit (unwrap only) */
} role_commit;

static CK_RV value_role(ks_token *tok, const uint8_t fp[32], ks_role role, role_commit commit,
                        ks_role *fixed)
{
    int cached = ks_role_cache_get(&tok->roles, fp);
    if (cached != KS_ROLE_NONE) {
        *fixed = (ks_role)cached;
        return CKR_OK;
    }
    char name[5 + 48 + 1];
    role_name(fp, name);
    uint64_t value = 0;
    /* An unwrap's value missing from the cache is most likely new to the token: it goes
     * straight to the add, which reads the role in its own transaction and refuses (adds
     * nothing) when there is one. */
    CK_RV rv = commit == ROLE_UNSYNCED && role != KS_ROLE_NONE
                   ? CKR_OK
                   : ks_store_counter_get(tok->store, 0, name, &value);
    if (rv == CKR_OK && value == 0 && role != KS_ROLE_NONE) {
        uint64_t before = 0;
        rv = commit == ROLE_UNSYNCED
                 ? ks_store_counter_add_unsynced(tok->store, 0, name, (uint64_t)role,
                                                 (uint64_t)role, &before)
                 : ks_store_counter_add(tok->store, 0, name, (uint64_t)role, (uint64_t)role,
                                        &before);
        if (rv == CKR_KEY_FUNCTION_NOT_PERMITTED) {
            rv = ks_store_counter_get(tok->store, 0, name, &value); /* it had one already */
        } else {
            value = (uint64_t)role;
        }
    }
    if (rv == CKR_OK && (value == KS_ROLE_KEK || value == KS_ROLE_DATA)) {
        ks_role_cache_put(&tok->roles, fp, (int)value); /* read from, or committed to, the store */
    }
    *fixed = (ks_role)value;
    ks_wipe(name, sizeof(name));
    return rv;
}

/* role_attr: the attribute whose value carries a role, or 0 for keys without roles. AES
 * values and private keys (their value attribute, the PKCS#8) carry roles: both can unwrap,
 * and a private key that unwraps must never decrypt what its public key wrapped
 * (docs/policy.md, "Key pairs"). Other keys have one purpose anyway. */
static CK_ATTRIBUTE_TYPE role_attr(const ks_attrs *key)
{
    CK_ULONG kt = (CK_ULONG)-1, cls = CKO_SECRET_KEY;
    ks_attrs_get_ulong(key, CKA_KEY_TYPE, &kt);
    ks_attrs_get_ulong(key, CKA_CLASS, &cls);
    if (cls == CKO_SECRET_KEY && kt == CKK_AES) {
        return CKA_VALUE;
    }
    const ks_class_desc *d = cls == CKO_PRIVATE_KEY ? ks_class_find(cls) : NULL;
    return d != NULL && d->value_attr != KS_NO_VALUE_ATTR ? d->value_attr : 0;
}

/* The role of key's value (reading it, or fixing it to `role` when it has none). Keys
 * without roles (role_attr): *fixed is `role` for them. */
static CK_RV key_role(ks_token *tok, const ks_object *key, ks_role role, ks_role *fixed)
{
    if (key->role != KS_ROLE_NONE) {
        *fixed = (ks_role)key->role; /* a fixed role is fixed for good */
        return CKR_OK;
    }
    *fixed = role;
    CK_ATTRIBUTE_TYPE attr = role_attr(&key->attrs);
    if (attr == 0) {
        return CKR_OK;
    }
    if (ks_attrs_bool(&key->attrs, CKA_TRUSTED, CK_FALSE) == CK_TRUE) {
        /* A value the SO trusts is a wrapping key, in every token that holds it: its role is
         * fixed to wrapping whatever the first use asks, so no token uses it for data (a user
         * may set CKA_DECRYPT on a shared trusted KEK in one token and decrypt there what it
         * wrapped in another; docs/policy.md), and C_WrapKey never carries it out. */
        role = KS_ROLE_KEK;
    }
    const ks_attr *value = ks_attrs_find(&key->attrs, attr);
    if (value == NULL) {
        return CKR_USER_NOT_LOGGED_IN;
    }
    uint8_t fp[32];
    CK_RV rv = fingerprint(tok, value, fp);
    if (rv == CKR_OK) {
        rv = value_role(tok, fp, role, ROLE_SYNCED, fixed);
    }
    ks_wipe(fp, sizeof(fp));
    if (rv == CKR_OK && *fixed != KS_ROLE_NONE) {
        /* The cache field is the object's own, guarded by the token lock the caller holds. */
        ((ks_object *)key)->role = (int)*fixed;
    }
    return rv;
}

static int strict(const ks_token *tok)
{
    return tok->cfg->wrap_policy != KS_WRAP_POLICY_COMPAT && tok->store != NULL;
}

CK_RV ks_wrap_policy_unwrapped(ks_token *tok, const ks_attrs *kek, const ks_attrs *new_key)
{
    if (!strict(tok) || !ks_wrap_policy_guards_secret(kek)) {
        return CKR_OK; /* under a known, untrusted key the new value is known: no role */
    }
    CK_ATTRIBUTE_TYPE attr = role_attr(new_key);
    const ks_attr *value = attr != 0 ? ks_attrs_find(new_key, attr) : NULL;
    if (value == NULL) {
        return CKR_OK; /* only AES values and private keys carry roles (key_role) */
    }
    uint8_t fp[32];
    ks_role fixed = KS_ROLE_NONE;
    CK_RV rv = fingerprint(tok, value, fp);
    if (rv == CKR_OK) {
        /* Not synced: the unwrap makes nothing durable before the role, and whatever durable
         * comes of its object later (a token object, a copy, a count) is a synced commit
         * after this one, which makes this one durable too (docs/store.md, "Commits without
         * a sync"). Every process sees the role when this returns. */
        rv = value_role(tok, fp, KS_ROLE_DATA, ROLE_UNSYNCED, &fixed);
    }
    ks_wipe(fp, sizeof(fp));
    if (rv == CKR_OK && fixed != KS_ROLE_DATA) {
        return CKR_KEY_FUNCTION_NOT_PERMITTED; /* this value wraps here: it never left */
    }
    return rv;
}

CK_RV ks_wrap_policy_use(ks_token *tok, const ks_object *key, ks_role role)
{
    if (!strict(tok)) {
        return CKR_OK;
    }
    /* A value that guards a secret gets its role fixed at first use; a known value that
     * guards nothing only obeys a role something else fixed (an untrusted copy of a trusted
     * key, say), and fixes none itself. */
    int fixes = ks_wrap_policy_guards_secret(&key->attrs);
    ks_role fixed = KS_ROLE_NONE;
    CK_RV rv = key_role(tok, key, fixes ? role : KS_ROLE_NONE, &fixed);
    if (rv == CKR_OK && fixed != role && (fixes || fixed != KS_ROLE_NONE)) {
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    return rv;
}

CK_RV ks_wrap_policy_check_trust(const ks_token *tok, const ks_attrs *before,
                                 const ks_attrs *after)
{
    if (tok->cfg->wrap_policy == KS_WRAP_POLICY_COMPAT || tok->login == CKU_SO) {
        return CKR_OK;
    }
    if (ks_attrs_bool(before, CKA_TRUSTED, CK_FALSE) == CK_TRUE &&
        ks_attrs_bool(after, CKA_TRUSTED, CK_FALSE) != CK_TRUE) {
        return CKR_ATTRIBUTE_READ_ONLY;
    }
    return CKR_OK;
}

static int same_value(const ks_object *a, const ks_object *b)
{
    CK_ATTRIBUTE_TYPE attr = role_attr(&a->attrs), attr_b = role_attr(&b->attrs);
    attr = attr != 0 ? attr : CKA_VALUE;
    if (attr != (attr_b != 0 ? attr_b : CKA_VALUE)) {
        return 0;
    }
    const ks_attr *va = ks_attrs_find(&a->attrs, attr);
    const ks_attr *vb = ks_attrs_find(&b->attrs, attr);
    return va != NULL && vb != NULL && va->len == vb->len &&
           ks_memeq(va->value, vb->value, va->len);
}

CK_RV ks_wrap_policy_wrap_roles(ks_token *tok, const ks_object *kek, const ks_object *key)
{
    if (!strict(tok)) {
        return CKR_OK;
    }
    if (!ks_wrap_policy_guards_secret(&kek->attrs)) {
        /* Only known keys under a known key (check_wrap): obey roles others fixed, fix none. */
        CK_RV rv = ks_wrap_policy_use(tok, kek, KS_ROLE_KEK);
        return rv == CKR_OK ? ks_wrap_policy_use(tok, key, KS_ROLE_DATA) : rv;
    }
    if (kek == key || same_value(kek, key)) {
        return CKR_KEY_NOT_WRAPPABLE; /* a key under itself: it would need both roles */
    }
    /* Read both roles first, so that a refused call fixes neither. */
    ks_role kek_role = KS_ROLE_NONE;
    ks_role key_has = KS_ROLE_NONE;
    CK_RV rv = key_role(tok, kek, KS_ROLE_NONE, &kek_role);
    if (rv == CKR_OK) {
        rv = key_role(tok, key, KS_ROLE_NONE, &key_has);
    }
    if (rv != CKR_OK) {
        return rv;
    }
    if (kek_role == KS_ROLE_DATA) {
        return CKR_KEY_FUNCTION_NOT_PERMITTED;
    }
    if (key_has == KS_ROLE_KEK) {
        return CKR_KEY_NOT_WRAPPABLE; /* a wrapping key does not leave the token */
    }
    rv = ks_wrap_policy_use(tok, kek, KS_ROLE_KEK);
    if (rv == CKR_OK) {
        rv = ks_wrap_policy_use(tok, key, KS_ROLE_DATA);
        rv = rv == CKR_KEY_FUNCTION_NOT_PERMITTED ? CKR_KEY_NOT_WRAPPABLE : rv;
    }
    return rv;
}
