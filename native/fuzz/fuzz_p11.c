/* fuzz_p11.c - libFuzzer target: sequences of PKCS#11 calls through the whole module,
 * linked statically (p11/, token/, crypto/), with random handles, lengths and buffers.
 *
 * Each input starts from nothing: C_Initialize with an in-memory token directory
 * (KEYSTEAD_CONF names a file written once: token_dir = :memory:, fast PIN KDF), C_InitToken,
 * two sessions, the user PIN, a login, three keys (AES wrap/encrypt, AES GCM, HMAC) and a data
 * object. Then up to 24 calls chosen by the input, over nearly every entry point: session,
 * object and operation handles are a known one, 0, or any value; mechanisms and parameters as
 * fuzz_mech.h makes them; templates as fuzz_common.h makes them; every data buffer is exactly
 * as long as the call is told, output buffers are NULL (length queries), short, exact or long.
 * C_Finalize and ks_store_memory_reset end the input, so inputs do not depend on each other.
 * Properties besides memory safety: no call writes more than the length it was given, and
 * C_Finalize returns CKR_OK whatever state the calls left. */
#include <stdio.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "fuzz_mech.h"
#include "token/store.h"

static const CK_UTF8CHAR SO_PIN[] = "so-pin-1234";
static const CK_UTF8CHAR USER_PIN[] = "user-pin-5678";

typedef struct world {
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE sessions[3];
    CK_OBJECT_HANDLE objects[6];
} world;

static char g_conf_path[] = "/tmp/keystead-fuzz-XXXXXX";

static void remove_conf(void)
{
    unlink(g_conf_path);
}

static void setup_conf(void)
{
    static int done;
    if (done) {
        return;
    }
    int fd = mkstemp(g_conf_path);
    static const char conf[] = "token_dir = :memory:\npin_kdf = scrypt\npin_kdf_cost = fast\n"
                               "log_level = off\n";
    if (fd < 0 || write(fd, conf, sizeof(conf) - 1) != (ssize_t)(sizeof(conf) - 1)) {
        abort();
    }
    close(fd);
    atexit(remove_conf);
    setenv("KEYSTEAD_CONF", g_conf_path, 1);
    done = 1;
}

static void must(CK_RV rv, const char *what)
{
    if (rv != CKR_OK) {
        fprintf(stderr, "setup: %s failed: 0x%lx\n", what, rv);
        abort();
    }
}

static CK_OBJECT_HANDLE gen_key(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE m, CK_KEY_TYPE kt,
                                CK_ULONG len)
{
    CK_BBOOL yes = CK_TRUE;
    CK_ATTRIBUTE t[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)},  {CKA_ENCRYPT, &yes, 1}, {CKA_DECRYPT, &yes, 1},
        {CKA_WRAP, &yes, 1},  {CKA_UNWRAP, &yes, 1}, {CKA_SIGN, &yes, 1},
        {CKA_VERIFY, &yes, 1}, {CKA_TOKEN, &yes, 1}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
    };
    CK_MECHANISM mech = {m, NULL, 0};
    CK_OBJECT_HANDLE h = 0;
    must(C_GenerateKey(s, &mech, t, sizeof(t) / sizeof(t[0]), &h), "C_GenerateKey");
    return h;
}

static void setup_world(world *w)
{
    must(C_Initialize(NULL), "C_Initialize");
    CK_SLOT_ID slots[4];
    CK_ULONG n = 4;
    must(C_GetSlotList(CK_FALSE, slots, &n), "C_GetSlotList");
    w->slot = slots[0];
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof(label));
    memcpy(label, "fuzz", 4);
    must(C_InitToken(w->slot, (CK_UTF8CHAR_PTR)SO_PIN, sizeof(SO_PIN) - 1, label), "InitToken");
    CK_SESSION_HANDLE s;
    must(C_OpenSession(w->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s), "Open");
    must(C_Login(s, CKU_SO, (CK_UTF8CHAR_PTR)SO_PIN, sizeof(SO_PIN) - 1), "Login SO");
    must(C_InitPIN(s, (CK_UTF8CHAR_PTR)USER_PIN, sizeof(USER_PIN) - 1), "InitPIN");
    must(C_Logout(s), "Logout");
    must(C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)USER_PIN, sizeof(USER_PIN) - 1), "Login");
    w->sessions[0] = s;
    must(C_OpenSession(w->slot, CKF_SERIAL_SESSION, NULL, NULL, &w->sessions[1]), "Open RO");
    w->sessions[2] = 0;
    w->objects[0] = gen_key(s, CKM_AES_KEY_GEN, CKK_AES, 32);
    w->objects[1] = gen_key(s, CKM_AES_KEY_GEN, CKK_AES, 16);
    w->objects[2] = gen_key(s, CKM_GENERIC_SECRET_KEY_GEN, CKK_SHA256_HMAC, 32);
    CK_OBJECT_CLASS data = CKO_DATA;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &data, sizeof(data)}, {CKA_VALUE, "abc", 3}};
    must(C_CreateObject(s, t, 2, &w->objects[3]), "C_CreateObject");
    w->objects[4] = 0;
    w->objects[5] = 0;
}

static CK_SESSION_HANDLE pick_session(fz *f, world *w)
{
    uint8_t sel = fz_u8(f);
    return sel < 240 ? w->sessions[sel % 3] : (CK_SESSION_HANDLE)fz_u64(f);
}

static CK_OBJECT_HANDLE pick_object(fz *f, world *w)
{
    uint8_t sel = fz_u8(f);
    return sel < 240 ? w->objects[sel % 6] : (CK_OBJECT_HANDLE)fz_u64(f);
}

/* A data buffer: NULL with a length, or exactly len bytes of input. */
static uint8_t *pick_in(fz *f, CK_ULONG *len)
{
    *len = fz_len(f, 200);
    if (*len > 4096 || fz_u8(f) == 255) {
        return NULL;
    }
    return fz_bytes(f, *len);
}

/* An output buffer: NULL (length query), or exactly *cap bytes. */
static uint8_t *pick_out(fz *f, CK_ULONG *cap)
{
    uint8_t sel = fz_u8(f);
    *cap = sel & 1 ? fz_u8(f) : (CK_ULONG)16 * (sel % 20);
    if ((sel & 0x0e) == 0) {
        return NULL;
    }
    return fz_alloc(f, *cap);
}

static void check_out(const char *what, CK_RV rv, const uint8_t *out, CK_ULONG cap,
                      CK_ULONG len)
{
    if (rv == CKR_OK && out != NULL && len > cap) {
        fprintf(stderr, "%s: %lu bytes written into %lu\n", what, len, cap);
        abort();
    }
}

static void remember(world *w, CK_OBJECT_HANDLE h)
{
    if (h != 0) {
        w->objects[4 + (h & 1)] = h;
    }
}

static void msg_param(fz *f, void **p, CK_ULONG *len)
{
    if (fz_u8(f) < 64) {
        *len = fz_len(f, 64);
        *p = *len > 4096 ? NULL : fz_bytes(f, *len);
        return;
    }
    CK_GCM_MESSAGE_PARAMS *m = fz_alloc(f, sizeof(*m));
    m->ulIvLen = fz_u8(f) & 1 ? 12 : fz_u8(f) % 40;
    m->pIv = fz_bytes(f, m->ulIvLen);
    m->ulIvFixedBits = fz_u8(f) % 100;
    m->ivGenerator = fz_u8(f) % 5;
    m->ulTagBits = fz_u8(f) & 1 ? 128 : fz_u8(f);
    m->pTag = fz_bytes(f, 16);
    *p = m;
    *len = sizeof(*m);
}

static void one_call(fz *f, world *w)
{
    CK_SESSION_HANDLE s = pick_session(f, w);
    CK_MECHANISM mech = {fz_mech(f), NULL, 0};
    CK_ULONG in_len = 0, cap = 0, len = 0, in2_len = 0;
    uint8_t *in, *in2, *out;
    CK_ATTRIBUTE *t = NULL;
    CK_ULONG n = 0;
    CK_OBJECT_HANDLE h = 0;
    CK_RV rv = CKR_OK;
    void *mp = NULL;
    CK_ULONG mp_len = 0;
    uint8_t op = fz_u8(f) % 48;
    switch (op) {
    case 0: { CK_SESSION_INFO si; (void)C_GetSessionInfo(s, &si); break; }
    case 1: { CK_TOKEN_INFO ti; (void)C_GetTokenInfo(fz_u8(f) & 1 ? w->slot : fz_u64(f), &ti);
              break; }
    case 2: {
        CK_ULONG count = fz_u8(f) % 40;
        CK_MECHANISM_TYPE *list = fz_u8(f) & 1 ? NULL : fz_alloc(f, count * sizeof(*list));
        (void)C_GetMechanismList(w->slot, list, &count);
        CK_MECHANISM_INFO mi;
        (void)C_GetMechanismInfo(w->slot, mech.mechanism, &mi);
        break;
    }
    case 3: (void)C_OpenSession(w->slot, fz_u8(f) & 1 ? CKF_SERIAL_SESSION | CKF_RW_SESSION
                                                       : (CK_FLAGS)fz_u64(f), NULL, NULL,
                                &w->sessions[2]);
        break;
    case 4: (void)C_CloseSession(s); break;
    case 5: {
        in = pick_in(f, &in_len);
        (void)C_Login(s, fz_u8(f) % 4, in, in_len);
        break;
    }
    case 6: (void)C_Logout(s); break;
    case 7: in = pick_in(f, &in_len); (void)C_InitPIN(s, in, in_len); break;
    case 8:
        in = pick_in(f, &in_len);
        in2 = pick_in(f, &in2_len);
        (void)C_SetPIN(s, in, in_len, in2, in2_len);
        break;
    case 9:
        fz_template_into(f, &t, &n, 2);
        (void)C_CreateObject(s, t, n, &h);
        remember(w, h);
        break;
    case 10:
        fz_template_into(f, &t, &n, 2);
        (void)C_CopyObject(s, pick_object(f, w), t, n, &h);
        remember(w, h);
        break;
    case 11: (void)C_DestroyObject(s, pick_object(f, w)); break;
    case 12: (void)C_GetObjectSize(s, pick_object(f, w), &len); break;
    case 13: case 14:
        fz_template_into(f, &t, &n, 2);
        (void)C_GetAttributeValue(s, pick_object(f, w), t, n);
        break;
    case 15:
        fz_template_into(f, &t, &n, 2);
        (void)C_SetAttributeValue(s, pick_object(f, w), t, n);
        break;
    case 16: {
        fz_template_into(f, &t, &n, 1);
        if (C_FindObjectsInit(s, t, n) == CKR_OK) {
            CK_ULONG max = fz_u8(f) % 8, got = 0;
            CK_OBJECT_HANDLE *found = fz_alloc(f, max * sizeof(*found));
            rv = C_FindObjects(s, found, max, &got);
            if (rv == CKR_OK && got > max) {
                abort();
            }
            if (fz_u8(f) & 1) {
                (void)C_FindObjectsFinal(s);
            }
        }
        break;
    }
    case 17: case 18: case 19: case 20:
        fz_param(f, &mech);
        switch (op) {
        case 17: (void)C_EncryptInit(s, &mech, pick_object(f, w)); break;
        case 18: (void)C_DecryptInit(s, &mech, pick_object(f, w)); break;
        case 19: (void)C_SignInit(s, &mech, pick_object(f, w)); break;
        default: (void)C_VerifyInit(s, &mech, pick_object(f, w)); break;
        }
        break;
    case 21: fz_param(f, &mech); (void)C_DigestInit(s, &mech); break;
    case 22: case 23: case 24: case 25: case 26: case 27: {
        in = pick_in(f, &in_len);
        out = pick_out(f, &cap);
        len = cap;
        CK_RV (*fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR, CK_ULONG_PTR) =
            op == 22 ? C_Encrypt : op == 23 ? C_Decrypt : op == 24 ? C_EncryptUpdate
            : op == 25 ? C_DecryptUpdate : op == 26 ? C_Digest : C_Sign;
        rv = fn(s, in, in_len, out, fz_u8(f) == 0 ? NULL : &len);
        check_out("data call", rv, out, cap, len);
        break;
    }
    case 28: case 29: case 30: case 31: {
        out = pick_out(f, &cap);
        len = cap;
        CK_RV (*fn)(CK_SESSION_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR) =
            op == 28 ? C_EncryptFinal : op == 29 ? C_DecryptFinal
            : op == 30 ? C_DigestFinal : C_SignFinal;
        rv = fn(s, out, &len);
        check_out("final call", rv, out, cap, len);
        break;
    }
    case 32: {
        in = pick_in(f, &in_len);
        int which = fz_u8(f) % 4;
        if (which == 0) {
            (void)C_DigestUpdate(s, in, in_len);
        } else if (which == 1) {
            (void)C_SignUpdate(s, in, in_len);
        } else if (which == 2) {
            (void)C_VerifyUpdate(s, in, in_len);
        } else {
            (void)C_DigestKey(s, pick_object(f, w));
        }
        break;
    }
    case 33:
        in = pick_in(f, &in_len);
        in2 = pick_in(f, &in2_len);
        (void)(fz_u8(f) & 1 ? C_Verify(s, in, in_len, in2, in2_len)
                            : C_VerifyFinal(s, in2, in2_len));
        break;
    case 34:
        fz_template_into(f, &t, &n, 2);
        fz_param(f, &mech);
        (void)C_GenerateKey(s, &mech, t, n, &h);
        remember(w, h);
        break;
    case 35: {
        fz_param(f, &mech);
        out = pick_out(f, &cap);
        len = cap;
        rv = C_WrapKey(s, &mech, pick_object(f, w), pick_object(f, w), out, &len);
        check_out("C_WrapKey", rv, out, cap, len);
        break;
    }
    case 36:
        fz_param(f, &mech);
        in = pick_in(f, &in_len);
        fz_template_into(f, &t, &n, 2);
        (void)C_UnwrapKey(s, &mech, pick_object(f, w), in, in_len, t, n, &h);
        remember(w, h);
        break;
    case 37:
        fz_param(f, &mech);
        fz_template_into(f, &t, &n, 1);
        (void)C_DeriveKey(s, &mech, pick_object(f, w), t, n, &h);
        remember(w, h);
        break;
    case 38:
        out = pick_out(f, &cap);
        (void)C_GenerateRandom(s, out, out ? cap : fz_u8(f));
        in = pick_in(f, &in_len);
        (void)C_SeedRandom(s, in, in_len);
        break;
    case 39: {
        out = pick_out(f, &cap);
        len = cap;
        rv = C_GetOperationState(s, out, &len);
        check_out("C_GetOperationState", rv, out, cap, len);
        in = pick_in(f, &in_len);
        (void)C_SetOperationState(s, in, in_len, pick_object(f, w), pick_object(f, w));
        break;
    }
    case 40: (void)C_SessionCancel(s, (CK_FLAGS)fz_u32(f)); break;
    case 41:
        fz_param(f, &mech);
        (void)(fz_u8(f) & 1 ? C_MessageEncryptInit(s, &mech, pick_object(f, w))
                            : C_MessageDecryptInit(s, &mech, pick_object(f, w)));
        break;
    case 42: case 43: {
        msg_param(f, &mp, &mp_len);
        in = pick_in(f, &in_len);
        in2 = pick_in(f, &in2_len);
        out = pick_out(f, &cap);
        len = cap;
        rv = op == 42 ? C_EncryptMessage(s, mp, mp_len, in, in_len, in2, in2_len, out, &len)
                      : C_DecryptMessage(s, mp, mp_len, in, in_len, in2, in2_len, out, &len);
        check_out("C_EncryptMessage", rv, out, cap, len);
        break;
    }
    case 44: case 45: {
        msg_param(f, &mp, &mp_len);
        in = pick_in(f, &in_len);
        if (fz_u8(f) & 1) {
            (void)(op == 44 ? C_EncryptMessageBegin(s, mp, mp_len, in, in_len)
                            : C_DecryptMessageBegin(s, mp, mp_len, in, in_len));
            break;
        }
        out = pick_out(f, &cap);
        len = cap;
        CK_FLAGS fl = fz_u8(f) & 1 ? CKF_END_OF_MESSAGE : (CK_FLAGS)fz_u8(f);
        rv = op == 44 ? C_EncryptMessageNext(s, mp, mp_len, in, in_len, out, &len, fl)
                      : C_DecryptMessageNext(s, mp, mp_len, in, in_len, out, &len, fl);
        check_out("C_EncryptMessageNext", rv, out, cap, len);
        break;
    }
    case 46: (void)(fz_u8(f) & 1 ? C_MessageEncryptFinal(s) : C_MessageDecryptFinal(s)); break;
    default:
        if (fz_u8(f) < 16) {
            (void)C_CloseAllSessions(w->slot);
        } else {
            CK_SLOT_INFO si;
            (void)C_GetSlotInfo(fz_u8(f) & 1 ? w->slot : fz_u64(f), &si);
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup_conf();
    fz f;
    fz_init(&f, data, size);
    world w;
    setup_world(&w);
    for (int i = 0; i < 24 && f.n > 0; i++) {
        one_call(&f, &w);
    }
    CK_RV rv = C_Finalize(NULL);
    if (rv != CKR_OK) {
        fprintf(stderr, "C_Finalize: 0x%lx\n", rv);
        abort();
    }
    ks_store_memory_reset();
    fz_free(&f);
    return 0;
}
