/* rsa_keygen.c - RSA key generation by FIPS 186-5 A.1.3 (random probable primes), see
 * rsa_keygen.h.
 *
 * Each candidate is a fresh random number (A.1.3 steps 4.2 and 5.2), not the next odd number
 * after the last one: trial division by the odd primes below TRIAL_LIMIT, grouped so that one
 * pass over the candidate's words checks several primes at once, throws out most composites
 * before a Miller-Rabin round costs a modular exponentiation. Rejected candidates are thrown
 * away, so the time spent on them says nothing of the primes kept; the kept primes go through
 * every group and every round whatever their value. The small-prime table is written once,
 * inside pthread_once, and read-only afterwards. */
#include "crypto/rsa_keygen.h"

#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "crypto/mem.h"
#include "crypto/rsa.h"

#define TRIAL_LIMIT 2048 /* trial division by the odd primes below this */
#define MAX_GROUPS 160
#define MAX_GROUP_PRIMES 12

/* A group of small primes whose product fits in 64 bits. */
typedef struct prime_group {
    uint64_t product;
    uint16_t primes[MAX_GROUP_PRIMES];
    int count;
} prime_group;

static prime_group g_groups[MAX_GROUPS];
static int g_ngroups;
static pthread_once_t g_groups_once = PTHREAD_ONCE_INIT;

static void groups_init(void)
{
    static uint8_t composite[TRIAL_LIMIT];
    prime_group *g = &g_groups[0];
    g->product = 1;
    for (unsigned i = 3; i < TRIAL_LIMIT && g_ngroups < MAX_GROUPS; i += 2) {
        if (composite[i]) {
            continue;
        }
        for (unsigned j = i * i; j < TRIAL_LIMIT; j += 2 * i) {
            composite[j] = 1;
        }
        if (g->count == MAX_GROUP_PRIMES || g->product > UINT64_MAX / i) {
            g = &g_groups[++g_ngroups];
            g->product = 1;
        }
        g->primes[g->count++] = (uint16_t)i;
        g->product *= i;
    }
    if (g->count > 0) {
        g_ngroups++;
    }
}

__extension__ typedef unsigned __int128 u128;

/* no_small_factor: 0 when one of the table's primes divides the candidate (given as nwords
 * 64-bit words, least significant first). The candidate is above every table prime. */
static int no_small_factor(const uint64_t *w, size_t nwords)
{
    for (int i = 0; i < g_ngroups; i++) {
        const prime_group *g = &g_groups[i];
        u128 r = 0;
        for (size_t j = nwords; j-- > 0;) {
            r = ((r << 64) | w[j]) % g->product;
        }
        uint64_t rem = (uint64_t)r;
        for (int k = 0; k < g->count; k++) {
            if (rem % g->primes[k] == 0) {
                return 0;
            }
        }
    }
    return 1;
}

/* mr_rounds: FIPS 186-5 Table B.1 for p and q (nlen >= 2048); FIPS 186-4 Table C.3 (512-bit
 * primes, 2^-100) below. */
static int mr_rounds(unsigned nlen)
{
    return nlen >= 3072 ? 4 : nlen >= 2048 ? 5 : 7;
}

/* A secret BIGNUM from ctx (constant-time flag set); NULL when ctx is out of room. */
static BIGNUM *ctx_secret(BN_CTX *ctx)
{
    BIGNUM *b = BN_CTX_get(ctx);
    if (b != NULL) {
        BN_set_flags(b, BN_FLG_CONSTTIME);
    }
    return b;
}

/* miller_rabin: FIPS 186-5 B.3.1 with `rounds` random bases b in [2, w - 2]. 1 probably
 * prime, 0 composite, -1 on a libcrypto failure. w is odd and above 3. */
static int miller_rabin(const BIGNUM *w, int rounds, BN_CTX *ctx)
{
    int result = -1;
    BN_CTX_start(ctx);
    BIGNUM *w1 = ctx_secret(ctx), *w3 = ctx_secret(ctx), *m = ctx_secret(ctx);
    BIGNUM *b = ctx_secret(ctx), *z = ctx_secret(ctx), *one_m = ctx_secret(ctx);
    BIGNUM *w1_m = ctx_secret(ctx);
    BN_MONT_CTX *mont = BN_MONT_CTX_new();
    if (w1_m == NULL || mont == NULL || BN_MONT_CTX_set(mont, w, ctx) != 1 ||
        BN_copy(w1, w) == NULL || BN_sub_word(w1, 1) != 1 || BN_copy(w3, w) == NULL ||
        BN_sub_word(w3, 3) != 1) {
        goto done;
    }
    int a = 0; /* w - 1 = 2^a * m, m odd */
    while (!BN_is_bit_set(w1, a)) {
        a++;
    }
    if (BN_rshift(m, w1, a) != 1 || BN_one(one_m) != 1 ||
        BN_to_montgomery(one_m, one_m, mont, ctx) != 1 ||
        BN_to_montgomery(w1_m, w1, mont, ctx) != 1) {
        goto done;
    }
    result = 1;
    for (int i = 0; i < rounds && result == 1; i++) {
        if (BN_priv_rand_range_ex(b, w3, 0, ctx) != 1 || BN_add_word(b, 2) != 1 ||
            BN_mod_exp_mont_consttime(z, b, m, w, ctx, mont) != 1 ||
            BN_to_montgomery(z, z, mont, ctx) != 1) {
            result = -1;
            break;
        }
        if (BN_cmp(z, one_m) == 0 || BN_cmp(z, w1_m) == 0) {
            continue; /* B.3.1 step 4.5 */
        }
        result = 0;
        for (int j = 1; j < a; j++) { /* step 4.6 */
            if (BN_mod_mul_montgomery(z, z, z, mont, ctx) != 1) {
                result = -1;
                break;
            }
            if (BN_cmp(z, w1_m) == 0) {
                result = 1;
                break;
            }
            if (BN_cmp(z, one_m) == 0) {
                break; /* composite */
            }
        }
    }
done:
    BN_MONT_CTX_free(mont);
    BN_CTX_end(ctx);
    return result;
}

/* The search of one prime: p (bits bits) for A.1.3 step 4, or q for step 5 when other (p)
 * and min_diff (2^(nlen/2 - 100)) are given. */
typedef struct prime_search {
    int bits;
    const BIGNUM *e;
    const BIGNUM *other;
    const BIGNUM *min_diff;
    int rounds;
    int max_tries; /* A.1.3 steps 4.7 and 5.7 */
} prime_search;

/* to_words: c as nwords 64-bit words, least significant first. */
static int to_words(uint64_t *words, size_t nwords, const BIGNUM *c)
{
    uint8_t le[KS_RSA_KEYGEN_MAX_BITS / 2 / 8 + 8];
    if (nwords * 8 > sizeof(le) || BN_bn2lebinpad(c, le, (int)(nwords * 8)) != (int)(nwords * 8)) {
        return 0;
    }
    for (size_t i = 0; i < nwords; i++) {
        uint64_t v = 0;
        for (int b = 7; b >= 0; b--) {
            v = v << 8 | le[8 * i + (size_t)b];
        }
        words[i] = v;
    }
    ks_wipe(le, sizeof(le));
    return 1;
}

/* candidate_ok: the steps after the random draw for candidate c. 1 take it, 0 draw again,
 * -1 on failure; *counted is set when the try counts against max_tries (steps 4.6, 5.6). */
static int candidate_ok(const prime_search *s, BIGNUM *c, uint64_t *words, size_t nwords,
                        int *counted, BN_CTX *ctx)
{
    *counted = 0;
    BN_CTX_start(ctx);
    BIGNUM *t = ctx_secret(ctx), *g = ctx_secret(ctx);
    int r = -1;
    /* steps 4.4 / 5.4: c >= sqrt(2) * 2^(bits - 1), that is c^2 >= 2^(2 * bits - 1) */
    if (g == NULL || BN_sqr(t, c, ctx) != 1) {
        goto done;
    }
    r = 0;
    if (BN_num_bits(t) < 2 * s->bits) {
        goto done;
    }
    if (s->other != NULL) { /* step 5.4: |p - q| > 2^(nlen/2 - 100) */
        if (BN_sub(t, c, s->other) != 1) {
            r = -1;
            goto done;
        }
        if (BN_ucmp(t, s->min_diff) <= 0) {
            goto done;
        }
    }
    *counted = 1;
    if (!to_words(words, nwords, c)) {
        r = -1;
        goto done;
    }
    if (!no_small_factor(words, nwords)) { /* composite: part of step 4.5.1's test */
        goto done;
    }
    /* steps 4.5 / 5.5: gcd(c - 1, e) = 1, computed as gcd((c - 1) mod e, e) (e has at most
     * 256 bits: a constant-time gcd over c's full length costs several times more) */
    if (BN_copy(t, c) == NULL || BN_sub_word(t, 1) != 1 || BN_mod(g, t, s->e, ctx) != 1 ||
        BN_gcd(t, g, s->e, ctx) != 1) {
        r = -1;
        goto done;
    }
    if (!BN_is_one(t)) {
        goto done;
    }
    r = miller_rabin(c, s->rounds, ctx);
done:
    BN_CTX_end(ctx);
    return r;
}

static ks_status find_prime(BIGNUM *out, const prime_search *s, BN_CTX *ctx)
{
    size_t nwords = ((size_t)s->bits + 63) / 64;
    uint64_t words[KS_RSA_KEYGEN_MAX_BITS / 2 / 64 + 1];
    ks_status st = KS_ERR_INTERNAL;
    for (int tries = 0; tries < s->max_tries;) {
        int counted = 0;
        /* steps 4.2, 4.3: a random odd number of bits bits (the top bit is set: every
         * number at or above the step 4.4 bound has it) */
        if (BN_priv_rand_ex(out, s->bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ODD, 0, ctx) != 1) {
            break;
        }
        int r = candidate_ok(s, out, words, nwords, &counted, ctx);
        if (r < 0) {
            break;
        }
        if (r == 1) {
            st = KS_OK;
            break;
        }
        tries += counted;
    }
    ks_wipe(words, sizeof(words));
    return st;
}

int ks_rsa_keygen_exponent_ok(const uint8_t *e, size_t e_len)
{
    if (e == NULL) {
        return 0;
    }
    while (e_len > 0 && e[0] == 0) {
        e++;
        e_len--;
    }
    /* odd with 3 to 32 significant bytes: 2^16 + 1 <= e < 2^256 */
    return e_len >= 3 && e_len <= 32 && (e[e_len - 1] & 1) == 1;
}

/* The key's integers: the secret ones by BN_secure_new (libcrypto's secure heap when the
 * application set one up, else the ordinary heap) with BN_FLG_CONSTTIME, cleared when freed. */
typedef struct rsa_parts {
    BIGNUM *n, *e, *d, *p, *q, *dp, *dq, *qinv;
} rsa_parts;

static void parts_free(rsa_parts *k)
{
    BN_free(k->n);
    BN_free(k->e);
    BN_clear_free(k->d);
    BN_clear_free(k->p);
    BN_clear_free(k->q);
    BN_clear_free(k->dp);
    BN_clear_free(k->dq);
    BN_clear_free(k->qinv);
    memset(k, 0, sizeof(*k));
}

static int parts_new(rsa_parts *k)
{
    memset(k, 0, sizeof(*k));
    k->n = BN_new();
    k->e = BN_new();
    BIGNUM **secret[] = {&k->d, &k->p, &k->q, &k->dp, &k->dq, &k->qinv};
    int ok = k->n != NULL && k->e != NULL;
    for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++) {
        *secret[i] = BN_secure_new();
        ok = ok && *secret[i] != NULL;
        if (*secret[i] != NULL) {
            BN_set_flags(*secret[i], BN_FLG_CONSTTIME);
        }
    }
    return ok;
}

/* derive: n, d = e^-1 mod lcm(p - 1, q - 1) and the CRT values from p and q. 1 done, 0 when
 * d <= 2^(nlen/2) (new primes are needed), -1 on failure. */
static int derive(rsa_parts *k, unsigned nlen, BN_CTX *ctx)
{
    int r = -1;
    BN_CTX_start(ctx);
    BIGNUM *p1 = ctx_secret(ctx), *q1 = ctx_secret(ctx), *g = ctx_secret(ctx);
    BIGNUM *prod = ctx_secret(ctx), *lcm = ctx_secret(ctx), *bound = BN_CTX_get(ctx);
    if (bound == NULL || BN_copy(p1, k->p) == NULL || BN_sub_word(p1, 1) != 1 ||
        BN_copy(q1, k->q) == NULL || BN_sub_word(q1, 1) != 1 || BN_gcd(g, p1, q1, ctx) != 1 ||
        BN_mul(prod, p1, q1, ctx) != 1 || BN_div(lcm, NULL, prod, g, ctx) != 1 ||
        BN_mod_inverse(k->d, k->e, lcm, ctx) == NULL) {
        goto done;
    }
    BN_zero(bound);
    if (BN_set_bit(bound, (int)(nlen / 2)) != 1) {
        goto done;
    }
    r = 0;
    if (BN_cmp(k->d, bound) <= 0) {
        goto done;
    }
    r = -1;
    if (BN_mul(k->n, k->p, k->q, ctx) == 1 && BN_mod(k->dp, k->d, p1, ctx) == 1 &&
        BN_mod(k->dq, k->d, q1, ctx) == 1 &&
        BN_mod_inverse(k->qinv, k->q, k->p, ctx) != NULL &&
        BN_num_bits(k->n) == (int)nlen) {
        r = 1;
    }
done:
    BN_CTX_end(ctx);
    return r;
}

static EVP_PKEY *build(const rsa_parts *k)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY *out = NULL;
    if (bld != NULL && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, k->n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, k->e) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, k->d) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, k->p) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, k->q) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, k->dp) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, k->dq) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, k->qinv) == 1) {
        params = OSSL_PARAM_BLD_to_param(bld);
    }
    EVP_PKEY_CTX *pctx = params != NULL ? EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL) : NULL;
    if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) != 1 ||
        EVP_PKEY_fromdata(pctx, &out, EVP_PKEY_KEYPAIR, params) != 1) {
        out = NULL;
    }
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params); /* clears the secret values it copied */
    OSSL_PARAM_BLD_free(bld);
    return out;
}

/* pairwise: (m^e)^d = m through the built key, its CRT path included (FIPS 140-3 IG 10.3.A's
 * pairwise consistency test; libcrypto's generator runs one too). */
static int pairwise(EVP_PKEY *key)
{
    uint8_t m[KS_RSA_KEYGEN_MAX_BITS / 8], c[sizeof(m)], back[sizeof(m)];
    size_t k = ks_rsa_size(key);
    if (k < 2 || k > sizeof(m)) {
        return 0;
    }
    m[0] = 0; /* below n */
    for (size_t i = 1; i < k; i++) {
        m[i] = (uint8_t)(0x5b * i + 1);
    }
    int ok = ks_rsa_public_raw(key, c, m, k) == KS_OK &&
             ks_rsa_private_raw(key, back, c, k) == KS_OK && memcmp(back, m, k) == 0;
    ks_wipe(back, sizeof(back));
    return ok;
}

ks_status ks_rsa_keygen(EVP_PKEY **out, unsigned bits, const uint8_t *e, size_t e_len)
{
    if (out == NULL) {
        return KS_ERR_ARGS;
    }
    *out = NULL;
    if (bits < KS_RSA_KEYGEN_MIN_BITS || bits > KS_RSA_KEYGEN_MAX_BITS ||
        !ks_rsa_keygen_exponent_ok(e, e_len)) {
        return KS_ERR_ARGS;
    }
    pthread_once(&g_groups_once, groups_init);
    rsa_parts k;
    BN_CTX *ctx = BN_CTX_secure_new();
    BIGNUM *min_diff = BN_new();
    ks_status st = KS_ERR_NOMEM;
    if (!parts_new(&k) || ctx == NULL || min_diff == NULL) {
        goto done;
    }
    st = KS_ERR_INTERNAL;
    BN_zero(min_diff);
    if (BN_bin2bn(e, (int)e_len, k.e) == NULL ||
        BN_set_bit(min_diff, (int)(bits / 2 - 100)) != 1) {
        goto done;
    }
    int half = (int)(bits / 2);
    prime_search sp = {(int)bits - half, k.e, NULL, NULL, mr_rounds(bits), 5 * half};
    prime_search sq = {half, k.e, k.p, min_diff, mr_rounds(bits), 10 * half};
    int r = 0;
    for (int attempt = 0; attempt < 4 && r == 0; attempt++) { /* d too small: new primes */
        if (find_prime(k.p, &sp, ctx) != KS_OK || find_prime(k.q, &sq, ctx) != KS_OK) {
            break;
        }
        r = derive(&k, bits, ctx);
    }
    if (r == 1) {
        *out = build(&k);
        if (*out != NULL && pairwise(*out)) {
            st = KS_OK;
        } else {
            EVP_PKEY_free(*out);
            *out = NULL;
        }
    }
done:
    parts_free(&k);
    BN_free(min_diff);
    BN_CTX_free(ctx);
    ERR_clear_error();
    return st;
}
