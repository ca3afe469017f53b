/* ops_aes_block.c - CKM_AES_ECB, CKM_AES_CBC, CKM_AES_CBC_PAD and CKM_AES_CTR
 * (PKCS#11 3.0 mechanisms 2.10; SP 800-38A; PKCS#7 padding, RFC 5652 6.3).
 *
 * Multi-part calls stream: update emits every whole block it can and holds the rest (at most
 * 16 bytes) in the state; CBC_PAD decryption also holds back the last whole block, which may
 * be the padding. The caller's output may be the input buffer itself (out == in); other
 * overlaps are not supported.
 *
 * CBC_PAD decryption cannot know the plaintext length without decrypting the last block,
 * so a length query answers the upper bound (section 5.2 allows "somewhat" more than
 * needed: one byte less than the input, as padding is at least one byte); a real call with
 * a buffer shorter than that decrypts the last block into a local copy and answers
 * CKR_BUFFER_TOO_SMALL with the exact length, state unchanged. */
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/ct.h"
#include "crypto/mem.h"
#include "token/ops_internal.h"

enum { BLK = 16, CHUNK = 512 };

static int is_pad_decrypt(const ks_op *op)
{
    return op->mech == CKM_AES_CBC_PAD && op->kind == KS_OP_DECRYPT;
}

/* What a producer of the block family runs (crypto/copyout.h): the op and its input. */
typedef struct blk_job {
    ks_op *op;
    const uint8_t *in;
} blk_job;

/* ECB or CBC over len / 16 blocks of the job's input, into dst. */
static ks_status blocks_into(void *arg, uint8_t *dst, size_t len)
{
    blk_job *j = arg;
    ks_blk_state *st = &j->op->u.blk;
    size_t nblocks = len / BLK;
    int dec = j->op->kind == KS_OP_DECRYPT;

    if (j->op->mech == CKM_AES_ECB) {
        return dec ? ks_aes_decrypt_blocks(&st->key, dst, j->in, nblocks)
                   : ks_aes_encrypt_blocks(&st->key, dst, j->in, nblocks);
    }
    return dec ? ks_aes_cbc_decrypt(&st->key, st->iv, dst, j->in, nblocks)
               : ks_aes_cbc_encrypt(&st->key, st->iv, dst, j->in, nblocks);
}

/* CTR over len bytes of the job's input, into dst. */
static ks_status ctr_into(void *arg, uint8_t *dst, size_t len)
{
    blk_job *j = arg;
    ks_blk_state *st = &j->op->u.blk;
    return ks_aes_ctr_xor(&st->key, &st->ctr, dst, j->in, len);
}

/* The kernels write the caller's out through the copy-out helper, in place. */
static ks_status run_blocks(ks_op *op, uint8_t *out, const uint8_t *in, size_t nblocks)
{
    blk_job j = {op, in};
    return ks_copy_out_produce(out, nblocks * BLK, blocks_into, &j);
}

/* Bytes an update emits when total bytes (held + new) are available. */
static size_t emit_len(const ks_op *op, size_t total)
{
    if (is_pad_decrypt(op)) {
        return total == 0 ? 0 : (total - 1) / BLK * BLK;
    }
    return total / BLK * BLK;
}

/* Emit the first n bytes (a multiple of 16) of S = held || in into out and hold the rest.
 * With bytes held, the input reaches the cipher through a stack chunk, each chunk (and the
 * carry into the next) read before its output is written, so out == in stays correct. */
static ks_status feed(ks_op *op, uint8_t *out, const uint8_t *in, size_t in_len, size_t n)
{
    ks_blk_state *st = &op->u.blk;
    size_t c = st->buf_len;
    size_t total = c + in_len;
    ks_status s = KS_OK;

    if (c == 0) {
        s = run_blocks(op, out, in, n / BLK);
        if (s == KS_OK) {
            memcpy(st->buf, in + n, total - n);
            st->buf_len = total - n;
        }
        return s;
    }
    uint8_t tmp[CHUNK];
    uint8_t carry[BLK];
    size_t nc = c;
    memcpy(carry, st->buf, c);
    for (size_t pos = 0; pos < n && s == KS_OK;) {
        size_t len = n - pos < CHUNK ? n - pos : CHUNK;
        size_t rest = total - (pos + len);
        /* S[pos + j] is carry[j] for j < c, in[pos + j - c] after. */
        memcpy(tmp, carry, c);
        memcpy(tmp + c, in + pos, len - c);
        nc = rest < c ? rest : c;
        memcpy(carry, in + pos + len - c, nc);
        s = run_blocks(op, out + pos, tmp, len / BLK);
        pos += len;
    }
    if (s == KS_OK) {
        memcpy(st->buf, carry, nc);
        if (in_len > n) {
            memcpy(st->buf + nc, in + n, in_len - n);
        }
        st->buf_len = total - n;
    }
    ks_wipe(tmp, sizeof(tmp));
    ks_wipe(carry, sizeof(carry));
    return s;
}

/* PKCS#7 padding check of a decrypted last block, in constant time: returns an all-ones
 * mask when blk ends in p bytes of value p, 1 <= p <= 16, and sets *pad = p (0 if invalid). */
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

/* Decrypt the last block (chained on prev) and check its padding: CKR_OK with the
 * plaintext in plain[0 .. *keep), or bad_rv. */
static CK_RV unpad(ks_op *op, uint8_t plain[BLK], size_t *keep, const uint8_t prev[BLK],
                   const uint8_t last[BLK], CK_RV bad_rv)
{
    uint8_t iv[BLK];
    size_t pad = 0;

    memcpy(iv, prev, BLK);
    ks_status s = ks_aes_cbc_decrypt(&op->u.blk.key, iv, plain, last, 1);
    ks_wipe(iv, sizeof(iv));
    if (s != KS_OK) {
        return ks_op_status_rv(s, CKR_ENCRYPTED_DATA_LEN_RANGE, bad_rv);
    }
    ks_mask ok = pad_check(plain, &pad);
    if (ks_value_barrier(ok) == 0) {
        ks_wipe(plain, BLK);
        return bad_rv;
    }
    *keep = BLK - pad;
    return CKR_OK;
}

/* Decrypt before bytes of whole blocks, then the unpadded last block. */
static CK_RV pad_decrypt(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                         size_t before, const uint8_t *last, CK_RV bad_rv)
{
    ks_blk_state *st = &op->u.blk;
    uint8_t prev[BLK];
    uint8_t plain[BLK];
    size_t keep = 0;

    memcpy(prev, before == 0 ? st->iv : in + before - BLK, BLK);
    CK_RV rv = unpad(op, plain, &keep, prev, last, bad_rv);
    if (rv == CKR_OK && *out_len < before + keep) {
        *out_len = before + keep;
        rv = CKR_BUFFER_TOO_SMALL;
    } else if (rv == CKR_OK) {
        /* out == in is fine: the last block was read into plain already. */
        ks_status s = run_blocks(op, out, in, before / BLK);
        if (s != KS_OK) {
            rv = ks_op_status_rv(s, CKR_ENCRYPTED_DATA_LEN_RANGE, bad_rv);
        } else {
            ks_copy_out(out + before, plain, keep);
            *out_len = before + keep;
        }
    }
    ks_wipe(prev, sizeof(prev));
    ks_wipe(plain, sizeof(plain));
    return rv;
}

static CK_RV blk_oneshot(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                         size_t in_len)
{
    CK_RV len_rv = ks_op_len_rv(op);
    CK_RV rv = CKR_OK;

    if (op->mech == CKM_AES_CTR) {
        if (!ks_out_ready(out, out_len, in_len, &rv)) {
            return rv;
        }
        blk_job j = {op, in};
        ks_status s = ks_copy_out_produce(out, in_len, ctr_into, &j);
        if (s == KS_OK) {
            *out_len = in_len;
        }
        return ks_op_status_rv(s, len_rv, CKR_FUNCTION_FAILED);
    }
    if (is_pad_decrypt(op)) {
        if (in_len == 0 || in_len % BLK != 0) {
            return CKR_ENCRYPTED_DATA_LEN_RANGE;
        }
        if (out == NULL) {
            *out_len = in_len - 1;
            return CKR_OK;
        }
        return pad_decrypt(op, out, out_len, in, in_len - BLK, in + in_len - BLK,
                           CKR_ENCRYPTED_DATA_INVALID);
    }
    if (op->mech == CKM_AES_CBC_PAD) {
        /* PKCS#7: always 1..16 bytes of padding, so a whole extra block when aligned. */
        if (in_len > (size_t)-1 - BLK) {
            return len_rv;
        }
        size_t whole = in_len / BLK * BLK;
        if (!ks_out_ready(out, out_len, whole + BLK, &rv)) {
            return rv;
        }
        uint8_t last[BLK];
        size_t tail = in_len - whole;
        memcpy(last, in + whole, tail);
        memset(last + tail, (int)(BLK - tail), BLK - tail);
        ks_status s = run_blocks(op, out, in, whole / BLK);
        if (s == KS_OK) {
            s = run_blocks(op, out + whole, last, 1);
        }
        ks_wipe(last, sizeof(last));
        if (s == KS_OK) {
            *out_len = whole + BLK;
        }
        return ks_op_status_rv(s, len_rv, CKR_FUNCTION_FAILED);
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

static CK_RV blk_update(ks_op *op, uint8_t *out, CK_ULONG *out_len, const uint8_t *in,
                        size_t in_len)
{
    ks_blk_state *st = &op->u.blk;
    CK_RV len_rv = ks_op_len_rv(op);
    CK_RV rv = CKR_OK;

    if (op->mech == CKM_AES_CTR) {
        return blk_oneshot(op, out, out_len, in, in_len);
    }
    if (in_len > (size_t)-1 - BLK) {
        return len_rv;
    }
    size_t n = emit_len(op, st->buf_len + in_len);
    if (!ks_out_ready(out, out_len, n, &rv)) {
        return rv;
    }
    ks_status s = feed(op, out, in, in_len, n);
    if (s == KS_OK) {
        *out_len = n;
    }
    return ks_op_status_rv(s, len_rv, CKR_FUNCTION_FAILED);
}

static CK_RV blk_final(ks_op *op, uint8_t *out, CK_ULONG *out_len)
{
    ks_blk_state *st = &op->u.blk;
    CK_RV rv = CKR_OK;

    if (is_pad_decrypt(op)) {
        /* Ciphertext must have been whole blocks; the held block carries the padding. */
        if (st->buf_len != BLK) {
            return CKR_ENCRYPTED_DATA_LEN_RANGE;
        }
        if (out == NULL) {
            *out_len = BLK - 1;
            return CKR_OK;
        }
        return pad_decrypt(op, out, out_len, NULL, 0, st->buf, CKR_ENCRYPTED_DATA_INVALID);
    }
    if (op->mech == CKM_AES_CBC_PAD) {
        if (!ks_out_ready(out, out_len, BLK, &rv)) {
            return rv;
        }
        uint8_t last[BLK];
        memcpy(last, st->buf, st->buf_len);
        memset(last + st->buf_len, (int)(BLK - st->buf_len), BLK - st->buf_len);
        ks_status s = run_blocks(op, out, last, 1);
        ks_wipe(last, sizeof(last));
        if (s == KS_OK) {
            *out_len = BLK;
        }
        return ks_op_status_rv(s, CKR_DATA_LEN_RANGE, CKR_FUNCTION_FAILED);
    }
    /* ECB and CBC: a partial block left over is a length error (5.9 C_EncryptFinal). */
    if (st->buf_len != 0) {
        return ks_op_len_rv(op);
    }
    (void)ks_out_ready(out, out_len, 0, &rv);
    *out_len = 0;
    return CKR_OK;
}

static void blk_clear(ks_op *op)
{
    ks_blk_state *st = &op->u.blk;
    ks_aes_clear(&st->key);
    ks_wipe(st, sizeof(*st));
}

static const ks_op_family BLOCK_FAMILY = {
    .oneshot = blk_oneshot,
    .update = blk_update,
    .final = blk_final,
    .clear = blk_clear,
};

/* Parameters (mechanisms 3.0 2.10): ECB none; CBC and CBC_PAD a 16-byte IV; CTR a
 * CK_AES_CTR_PARAMS with 0 < ulCounterBits <= 128 (else CKR_MECHANISM_PARAM_INVALID). */
CK_RV ks_op_aes_block_init(ks_op *op, const CK_MECHANISM *mech, const ks_key_ref *key)
{
    ks_blk_state *st = &op->u.blk;
    const uint8_t *ctr_block = NULL;
    unsigned ctr_bits = 0;

    switch (mech->mechanism) {
    case CKM_AES_ECB:
        if (mech->ulParameterLen != 0) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        break;
    case CKM_AES_CBC:
    case CKM_AES_CBC_PAD:
        if (mech->pParameter == NULL || mech->ulParameterLen != BLK) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        memcpy(st->iv, mech->pParameter, BLK);
        break;
    case CKM_AES_CTR: {
        const CK_AES_CTR_PARAMS *p = mech->pParameter;
        if (p == NULL || mech->ulParameterLen != sizeof(*p) || p->ulCounterBits < 1 ||
            p->ulCounterBits > 128) {
            return CKR_MECHANISM_PARAM_INVALID;
        }
        ctr_block = p->cb;
        ctr_bits = (unsigned)p->ulCounterBits;
        break;
    }
    default:
        return CKR_MECHANISM_INVALID;
    }
    ks_status s = ks_aes_init(&st->key, key->value, key->len);
    if (s == KS_OK && ctr_block != NULL) {
        s = ks_aes_ctr_init(&st->ctr, ctr_block, ctr_bits);
    }
    if (s != KS_OK) {
        ks_aes_clear(&st->key);
        return s == KS_ERR_KEY_LEN ? CKR_KEY_SIZE_RANGE : CKR_FUNCTION_FAILED;
    }
    op->fam = &BLOCK_FAMILY;
    return CKR_OK;
}
