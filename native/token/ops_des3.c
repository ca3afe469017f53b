/* ops_des3.c - CKM_DES3_ECB, CKM_DES3_CBC and CKM_DES3_CBC_PAD (PKCS#11 3.0 mechanisms,
 * Triple-DES: ECB no parameter, CBC and CBC_PAD an 8-byte IV; PKCS#7 padding to 8 bytes,
 * RFC 5652 6.3), offered only with legacy_mechanisms = on (token/mech.c).
 *
 * The calling conventions are those of the AES block family (ops_aes_block.c) with 8-byte
 * blocks: multi-part updates emit every whole block and hold the rest; CBC_PAD decryption
 * holds back the last whole block, which may be the padding; its length query answers the
 * bound (input - 1), the call itself the exact length. out may equal in. */
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/ct.h"
#include "crypto/mem.h"
#include "token/ops_internal.h"

enum { BLK = KS_DES3_BLOCK };

/* An empty input may come as NULL (ops.c allows it with length 0): no arithmetic on it. */
static const uint8_t NO_INPUT[1];

static int is_pad(const ks_op *op)
{
    return op->mech == CKM_DES3_CBC_PAD;
}

static int is_pad_decrypt(const ks_op *op)
{
    return is_pad(op) && op->kind == KS_OP_DECRYPT;
}

/* What a producer of this family runs (crypto/copyout.h): the op and its input. */
typedef struct des3_job {
    ks_op *op;
    const uint8_t *in;
} des3_job;

/* ECB or CBC over len / 8 blocks of the job's input, into dst. */
static ks_status blocks_into(void *arg, uint8_t *dst, size_t len)
{
    des3_job *j = arg;
    ks_des3_state *st = &j->op->u.des3;
    size_t nblocks = len / BLK;
    int dec = j->op->kind == KS_OP_DECRYPT;

    if (j->op->mech == CKM_DES3_ECB) {
        return dec ? ks_des3_ecb_decrypt(&st->key, dst, j->in, nblocks)
                   : ks_des3_ecb_encrypt(&st->key, dst, j->in, nblocks);
    }
    return dec ? ks_des3_cbc_decrypt(&st->key, st->iv, dst, j->in, nblocks)
               : ks_des3_cbc_encrypt(&st->key, st->iv, dst, j->in, nblocks);
}

/* The kernels write the caller's out through the copy-out helper, in place. */
static ks_status run_blocks(ks_op *op, uint8_t *out, const uint8_t *in, size_t nblocks)
{
    des3_job j = {op, in};
    return ks_copy_out_produce(out, nblocks * BLK, blocks_into, &j);
}

/* PKCS#7 check of a decrypted last block in constant time: all-ones when blk ends in p
 * bytes of value p, 1 <= p <= 8; *pad = p (0 when invalid). */
static ks_mask pad_check(const uint8_t blk[BLK], size_t *pad)
{
    ks_mask p = blk[BLK - 1];
    ks_mask ok = ~ks_ct_is_zero(p) & ~ks_ct_lt(BLK, p);
    for (size_t i = 0; i < BLK; i++) {
        ks_mask in_pad = ks_ct_lt(BLK - 1 - i, p);
        ok &= ~in_pad | ks_ct_eq(blk[i], p);
    }
    *pad = (size_t)(p & ks_value_barrier(ok));
    return ok;
}

/* Decrypt before bytes of whole blocks from in, then the padded last block (chained on the
 * block before it); CKR_BUFFER_TOO_SMALL with the exact length leaves the state as it was. */
static CK_RV pad_decrypt(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                         size_t before, const uint8_t *last)
{
    ks_des3_state *st = &op->u.des3;
    uint8_t iv[BLK];
    uint8_t plain[BLK];
    size_t pad = 0;

    memcpy(iv, before == 0 ? st->iv : in + before - BLK, BLK);
    ks_status s = ks_des3_cbc_decrypt(&st->key, iv, plain, last, 1);
    CK_RV rv = ks_op_status_rv(s, CKR_ENCRYPTED_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_INVALID);
    if (rv == CKR_OK && ks_value_barrier(pad_check(plain, &pad)) == 0) {
        rv = CKR_ENCRYPTED_DATA_INVALID;
    }
    size_t keep = BLK - pad;
    if (rv == CKR_OK && *out_len < before + keep) {
        *out_len = before + keep;
        rv = CKR_BUFFER_TOO_SMALL;
    } else if (rv == CKR_OK) {
        s = run_blocks(op, out, in, before / BLK); /* the last block is in plain already */
        rv = ks_op_status_rv(s, CKR_ENCRYPTED_DATA_LEN_RANGE, CKR_ENCRYPTED_DATA_INVALID);
        if (rv == CKR_OK) {
            ks_copy_out(out + before, plain, keep);
            *out_len = before + keep;
        }
    }
    ks_wipe(iv, sizeof(iv));
    ks_wipe(plain, sizeof(plain));
    return rv;
}

/* Encrypt in (whole blocks) and the padded tail: PKCS#7 always adds 1..8 bytes. */
static CK_RV pad_encrypt(ks_op *op, uint8_t *out, const uint8_t *in, size_t whole,
                         const uint8_t *tail, size_t tail_len)
{
    uint8_t last[BLK];
    memcpy(last, tail, tail_len);
    memset(last + tail_len, (int)(BLK - tail_len), BLK - tail_len);
    ks_status s = run_blocks(op, out, in, whole / BLK);
    if (s == KS_OK) {
        s = run_blocks(op, out + whole, last, 1);
    }
    ks_wipe(last, sizeof(last));
    return ks_op_status_rv(s, CKR_DATA_LEN_RANGE, CKR_FUNCTION_FAILED);
}

static CK_RV des3_oneshot(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                          size_t in_len)
{
    in = in != NULL ? in : NO_INPUT;
    CK_RV len_rv = ks_op_len_rv(op);
    CK_RV rv = CKR_OK;

    if (is_pad_decrypt(op)) {
        if (in_len == 0 || in_len % BLK != 0) {
            return CKR_ENCRYPTED_DATA_LEN_RANGE;
        }
        if (out == NULL) {
            *out_len = in_len - 1;
            return CKR_OK;
        }
        return pad_decrypt(op, out, out_len, in, in_len - BLK, in + in_len - BLK);
    }
    if (is_pad(op)) {
        if (in_len > (size_t)-1 - BLK) {
            return len_rv;
        }
        size_t whole = in_len / BLK * BLK;
        if (!ks_out_ready(out, out_len, whole + BLK, &rv)) {
            return rv;
        }
        rv = pad_encrypt(op, out, in, whole, in + whole, in_len - whole);
        if (rv == CKR_OK) {
            *out_len = whole + BLK;
        }
        return rv;
    }
    if (in_len % BLK != 0) {
        return len_rv;
    }
    if (!ks_out_ready(out, out_len, in_len, &rv)) {
        return rv;
    }
    ks_status s = run_blocks(op, out, in, in_len / BLK);
    if (s == KS_OK) {
        *out_len = in_len;
    }
    return ks_op_status_rv(s, len_rv, CKR_FUNCTION_FAILED);
}

static CK_RV des3_update(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                         size_t in_len)
{
    in = in != NULL ? in : NO_INPUT;
    ks_des3_state *st = &op->u.des3;
    CK_RV len_rv = ks_op_len_rv(op);
    CK_RV rv = CKR_OK;

    if (in_len > (size_t)-1 - BLK) {
        return len_rv;
    }
    size_t total = st->buf_len + in_len;
    /* CBC_PAD decryption keeps the last whole block back: it may be the padding. */
    size_t n = is_pad_decrypt(op) ? (total == 0 ? 0 : (total - 1) / BLK * BLK)
                                  : total / BLK * BLK;
    if (!ks_out_ready(out, out_len, n, &rv)) {
        return rv;
    }
    /* S = held || in, emitted block by block. Block i is S[8i, 8i + 8) = carry || in[8i ..);
     * the bytes of in that start block i + 1 are read into carry before block i is written,
     * since out may be in. */
    size_t c = st->buf_len;
    uint8_t blk[BLK];
    uint8_t carry[BLK];
    size_t nc = c;
    memcpy(carry, st->buf, c);
    ks_status s = KS_OK;
    for (size_t pos = 0; pos < n && s == KS_OK; pos += BLK) {
        memcpy(blk, carry, c);
        memcpy(blk + c, in + pos, BLK - c);
        size_t avail = in_len - (pos + BLK - c);
        nc = avail < c ? avail : c;
        memcpy(carry, in + pos + BLK - c, nc);
        s = run_blocks(op, out + pos, blk, 1);
    }
    if (s == KS_OK) {
        size_t rest = total - n;
        if (n > 0) {
            memcpy(st->buf, carry, nc);
            memcpy(st->buf + nc, in + n, rest - nc);
        } else {
            memcpy(st->buf + c, in, in_len);
        }
        st->buf_len = rest;
        *out_len = n;
    }
    ks_wipe(carry, sizeof(carry));
    ks_wipe(blk, sizeof(blk));
    return ks_op_status_rv(s, len_rv, CKR_FUNCTION_FAILED);
}

static CK_RV des3_final(ks_op *op, uint8_t *out, CK_ULONG *out_len)
{
    ks_des3_state *st = &op->u.des3;
    CK_RV rv = CKR_OK;

    if (is_pad_decrypt(op)) {
        if (st->buf_len != BLK) {
            return CKR_ENCRYPTED_DATA_LEN_RANGE;
        }
        if (out == NULL) {
            *out_len = BLK - 1;
            return CKR_OK;
        }
        return pad_decrypt(op, out, out_len, NULL, 0, st->buf);
    }
    if (is_pad(op)) {
        if (!ks_out_ready(out, out_len, BLK, &rv)) {
            return rv;
        }
        rv = pad_encrypt(op, out, NULL, 0, st->buf, st->buf_len);
        if (rv == CKR_OK) {
            *out_len = BLK;
        }
        return rv;
    }
    if (st->buf_len != 0) {
        return ks_op_len_rv(op); /* a partial block left over (5.9 C_EncryptFinal) */
    }
    (void)ks_out_ready(out, out_len, 0, &rv);
    *out_len = 0;
    return CKR_OK;
}

static void des3_clear(ks_op *op)
{
    ks_des3_state *st = &op->u.des3;
    ks_des3_clear(&st->key);
    ks_wipe(st, sizeof(*st));
}

static const ks_op_family DES3_FAMILY = {
    .oneshot = des3_oneshot,
    .update = des3_update,
    .final = des3_final,
    .clear = des3_clear,
};

static CK_RV des3_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key)
{
    ks_des3_state *st = &op->u.des3;

    switch (mech->mechanism) {
    case CKM_DES3_ECB:
        if (mech->pParameter != NULL || mech->ulParameterLen != 0) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        break;
    case CKM_DES3_CBC:
    case CKM_DES3_CBC_PAD:
        if (mech->pParameter == NULL || mech->ulParameterLen != BLK) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        memcpy(st->iv, mech->pParameter, BLK);
        break;
    default:
        return CKR_MECHANISM_INVALID;
    }
    st->buf_len = 0;
    ks_status s = ks_des3_init(&st->key, key->value, key->len);
    if (s != KS_OK) {
        ks_wipe(st, sizeof(*st));
        return s == KS_ERR_KEY_LEN ? CKR_KEY_SIZE_RANGE
               : s == KS_ERR_NOMEM ? CKR_HOST_MEMORY
                                   : CKR_FUNCTION_FAILED;
    }
    op->fam = &DES3_FAMILY;
    return CKR_OK;
}

const ks_mech_family ks_fam_des3 = {"des3", des3_init};
