/* fuzz_ops.c - libFuzzer target: mechanism parameters and the calling conventions of
 * operations (token/ops*.c), and key wrapping (ks_wrap / ks_unwrap).
 *
 * One input: a mechanism (every one the token routes, plus unknown ones), a parameter blob
 * (mostly the mechanism's own structure with random IV, AAD, tag bits and counter bits, each
 * pointer backed by exactly the bytes its length claims, or a NULL pointer; sometimes any
 * bytes of any length), an operation kind and a key (type and length random, mostly valid).
 * When ks_op_new accepts it, a random sequence of one-shot, update, final and verify calls
 * follows, with random input lengths and output buffers (NULL for length queries, short,
 * exact or large): every buffer is exactly as long as the call is told. Properties besides
 * memory safety: a call never writes more than *out_len said, and a length query or
 * CKR_BUFFER_TOO_SMALL answers a length the next call can use. */
#include <stdio.h>

#include "fuzz_common.h"
#include "fuzz_mech.h"
#include "token/ops.h"

/* out_buf picks an output buffer for a call that needs `need` bytes: NULL (a length query),
 * too short, exact, or longer. */
static uint8_t *out_buf(fz *f, CK_ULONG need, CK_ULONG *cap)
{
    uint8_t sel = fz_u8(f) % 8;
    if (sel == 0) {
        *cap = fz_u8(f);
        return NULL;
    }
    if (need > 1 << 20) {
        need = 1 << 20;
    }
    *cap = sel == 1 ? fz_u8(f) % (need + 1) : sel == 2 ? need + fz_u8(f) : need;
    return fz_alloc(f, *cap);
}

static void check_len(const char *what, CK_RV rv, CK_ULONG cap, CK_ULONG len, uint8_t *out)
{
    if (rv == CKR_OK && out != NULL && len > cap) {
        fprintf(stderr, "%s wrote %lu bytes into %lu\n", what, len, cap);
        abort();
    }
}

static void run_op(fz *f, ks_op *op)
{
    CK_ULONG hint = 64;
    for (int calls = 0; calls < 8 && f->n > 0; calls++) {
        uint8_t which = fz_u8(f) % 6;
        CK_ULONG in_len = fz_len(f, 300);
        if (in_len > 4096) {
            in_len = fz_u8(f);
        }
        uint8_t *in = fz_bytes(f, in_len);
        CK_ULONG cap = 0, len;
        uint8_t *out = out_buf(f, in_len + 64 > hint ? in_len + 64 : hint, &cap);
        CK_RV rv;
        ks_op_kind kind = ks_op_kind_of(op);
        int macish = kind == KS_OP_SIGN || kind == KS_OP_VERIFY || kind == KS_OP_DIGEST;
        switch (which) {
        case 0:
            len = cap;
            rv = kind == KS_OP_VERIFY ? ks_op_verify(op, in, in_len, out, cap)
                                      : ks_op_oneshot(op, out, &len, in, in_len);
            check_len("oneshot", rv, cap, len, out);
            break;
        case 1: case 2:
            len = cap;
            rv = macish ? ks_op_update(op, NULL, NULL, in, in_len)
                        : ks_op_update(op, out, &len, in, in_len);
            check_len("update", rv, cap, len, out);
            break;
        case 3:
            len = cap;
            rv = kind == KS_OP_VERIFY ? ks_op_verify_final(op, out, cap)
                                      : ks_op_final(op, out, &len);
            check_len("final", rv, cap, len, out);
            break;
        default: {
            ks_key_ref k = {CKK_GENERIC_SECRET, in, in_len, NULL};
            rv = ks_op_digest_key(op, &k);
            len = 0;
            break;
        }
        }
        if (rv == CKR_BUFFER_TOO_SMALL || (rv == CKR_OK && out == NULL)) {
            hint = len;
        } else if (rv != CKR_OK && fz_u8(f) & 1) {
            return; /* the front would end the operation here (PKCS#11 3.0 5.2) */
        }
    }
}

static void run_wrap(fz *f, const CK_MECHANISM *mech, const ks_key_ref *kek)
{
    int alias = fz_u8(f) & 1;
    CK_ULONG in_len = fz_u8(f) < 200 ? 8 * (fz_u8(f) % 10) : fz_u8(f);
    uint8_t *in = fz_bytes(f, in_len);
    CK_ULONG cap = 0;
    uint8_t *out = out_buf(f, in_len + 32, &cap);
    CK_ULONG len = cap;
    CK_RV rv = ks_wrap(mech, kek, alias, out, &len, in, in_len);
    check_len("ks_wrap", rv, cap, len, out);
    size_t ulen = 0;
    size_t max_out = out_buf(f, in_len, &cap) ? cap : 0;
    uint8_t *uout = fz_alloc(f, max_out);
    rv = ks_unwrap(mech, kek, alias, uout, &ulen, max_out, in, in_len);
    if (rv == CKR_OK && ulen > max_out) {
        fprintf(stderr, "ks_unwrap wrote %zu bytes into %zu\n", ulen, max_out);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz f;
    fz_init(&f, data, size);
    CK_MECHANISM mech = {fz_mech(&f), NULL, 0};
    fz_param(&f, &mech);
    ks_op_kind kind = (ks_op_kind)(fz_u8(&f) % 5);
    uint8_t ksel = fz_u8(&f);
    size_t key_len = ksel & 0x80 ? fz_u8(&f) % 80 : 16 + 8 * (ksel % 3);
    ks_key_ref key = {fz_key_type((unsigned)ksel >> 2), NULL, key_len, NULL};
    key.value = fz_bytes(&f, key_len);
    if ((ksel & 0x60) == 0x60) {
        key.type = CKK_AES;
    }
    if (fz_u8(&f) < 64) {
        run_wrap(&f, &mech, &key);
    } else {
        ks_op *op = NULL;
        CK_RV rv = ks_op_new(&op, kind, &mech, kind == KS_OP_DIGEST ? NULL : &key);
        if (rv == CKR_OK) {
            run_op(&f, op);
            ks_op_free(op);
        } else if (op != NULL) {
            fprintf(stderr, "ks_op_new failed (0x%lx) but returned an operation\n", rv);
            abort();
        }
    }
    fz_free(&f);
    return 0;
}
