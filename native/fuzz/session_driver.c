/* session_driver.c - one representative life of a token through the PKCS#11 ABI, for
 * valgrind memcheck (native/fuzz/valgrind_session.sh): the module is dlopen'ed as any
 * consumer would, and never dlclose'd, so that what valgrind calls a definite or indirect
 * leak is memory the module lost, not its one-time caches (libcrypto fetches, DRBG).
 *
 *   session_driver MODULE.so        (KEYSTEAD_CONF must name an empty token directory)
 *
 * Steps: C_Initialize, C_InitToken, SO login, C_InitPIN, user login; AES and HMAC key
 * generation, an imported AES key, a data object; CBC-PAD (one-shot and multi-part), CTR,
 * GCM (one-shot and multi-part decryption), ECB, CMAC and HMAC sign/verify, SHA-256 digest,
 * KW and KWP wrap and unwrap, find, get/set attribute, copy, destroy, the message-based GCM
 * API, random, C_SetPIN, logout, C_Finalize; then a second C_Initialize that reads the token
 * back from disk, logs in with the new PIN, decrypts with the stored key and finalises.
 * Exits 0 when every call returned what it should, 2 (naming the call) otherwise. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkcs11.h"

static CK_FUNCTION_LIST_3_0 *p;
static const char *g_step;

#define CHECK(call)                                                                        \
    do {                                                                                   \
        g_step = #call;                                                                    \
        CK_RV rv_ = (call);                                                                \
        if (rv_ != CKR_OK) {                                                               \
            fprintf(stderr, "session_driver: %s returned 0x%lx\n", g_step, rv_);           \
            exit(2);                                                                       \
        }                                                                                  \
    } while (0)

#define EXPECT(call, want)                                                                 \
    do {                                                                                   \
        CK_RV rv_ = (call);                                                                \
        if (rv_ != (want)) {                                                               \
            fprintf(stderr, "session_driver: %s returned 0x%lx, expected %s\n", #call,     \
                    rv_, #want);                                                           \
            exit(2);                                                                       \
        }                                                                                  \
    } while (0)

static CK_UTF8CHAR SO_PIN[] = "so-pin-1234";
static CK_UTF8CHAR USER_PIN[] = "user-pin-5678";
static CK_UTF8CHAR NEW_PIN[] = "user-pin-0000";
static CK_BBOOL YES = CK_TRUE;
static CK_BBOOL NO = CK_FALSE;

static CK_OBJECT_HANDLE gen(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE m, CK_KEY_TYPE kt,
                            CK_ULONG len, const char *label, CK_BBOOL sensitive)
{
    CK_ATTRIBUTE t[] = {
        {CKA_VALUE_LEN, &len, sizeof(len)}, {CKA_TOKEN, &YES, 1},     {CKA_ENCRYPT, &YES, 1},
        {CKA_DECRYPT, &YES, 1},             {CKA_WRAP, &YES, 1},      {CKA_UNWRAP, &YES, 1},
        {CKA_SIGN, &YES, 1},                {CKA_VERIFY, &YES, 1},    {CKA_KEY_TYPE, &kt, sizeof(kt)},
        {CKA_LABEL, (void *)label, (CK_ULONG)strlen(label)},          {CKA_SENSITIVE, &sensitive, 1},
        {CKA_EXTRACTABLE, &YES, 1},
    };
    CK_MECHANISM mech = {m, NULL, 0};
    CK_OBJECT_HANDLE h = 0;
    CHECK(p->C_GenerateKey(s, &mech, t, sizeof(t) / sizeof(t[0]), &h));
    return h;
}

static void cipher_round(CK_SESSION_HANDLE s, CK_MECHANISM *mech, CK_OBJECT_HANDLE key,
                         CK_ULONG data_len, int multipart)
{
    CK_BYTE data[256], ct[320], pt[320];
    for (CK_ULONG i = 0; i < data_len; i++) {
        data[i] = (CK_BYTE)(i * 7 + 1);
    }
    CK_ULONG ct_len = sizeof(ct), pt_len = sizeof(pt), n;
    CHECK(p->C_EncryptInit(s, mech, key));
    CHECK(p->C_Encrypt(s, data, data_len, ct, &ct_len));
    CHECK(p->C_DecryptInit(s, mech, key));
    if (!multipart) {
        CK_ULONG need = 0;
        CHECK(p->C_Decrypt(s, ct, ct_len, NULL, &need)); /* length query keeps the operation */
        CHECK(p->C_Decrypt(s, ct, ct_len, pt, &pt_len));
    } else {
        pt_len = 0;
        CK_ULONG half = ct_len / 2;
        n = sizeof(pt);
        CHECK(p->C_DecryptUpdate(s, ct, half, pt, &n));
        pt_len += n;
        n = sizeof(pt) - pt_len;
        CHECK(p->C_DecryptUpdate(s, ct + half, ct_len - half, pt + pt_len, &n));
        pt_len += n;
        n = sizeof(pt) - pt_len;
        CHECK(p->C_DecryptFinal(s, pt + pt_len, &n));
        pt_len += n;
    }
    if (pt_len != data_len || memcmp(pt, data, data_len) != 0) {
        fprintf(stderr, "session_driver: mechanism 0x%lx does not round-trip\n",
                mech->mechanism);
        exit(2);
    }
}

static void mac_round(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE m, CK_OBJECT_HANDLE key)
{
    CK_MECHANISM mech = {m, NULL, 0};
    CK_BYTE data[100] = {1, 2, 3}, sig[64];
    CK_ULONG sig_len = sizeof(sig);
    CHECK(p->C_SignInit(s, &mech, key));
    CHECK(p->C_SignUpdate(s, data, 40));
    CHECK(p->C_SignUpdate(s, data + 40, 60));
    CHECK(p->C_SignFinal(s, sig, &sig_len));
    CHECK(p->C_VerifyInit(s, &mech, key));
    CHECK(p->C_Verify(s, data, sizeof(data), sig, sig_len));
    sig[0] ^= 1;
    CHECK(p->C_VerifyInit(s, &mech, key));
    EXPECT(p->C_Verify(s, data, sizeof(data), sig, sig_len), CKR_SIGNATURE_INVALID);
}

static void wrap_round(CK_SESSION_HANDLE s, CK_MECHANISM_TYPE m, CK_OBJECT_HANDLE kek,
                       CK_OBJECT_HANDLE key)
{
    CK_MECHANISM mech = {m, NULL, 0};
    CK_BYTE wrapped[128];
    CK_ULONG wrapped_len = sizeof(wrapped);
    CHECK(p->C_WrapKey(s, &mech, kek, key, wrapped, &wrapped_len));
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                        {CKA_ENCRYPT, &YES, 1}, {CKA_TOKEN, &NO, 1}};
    CK_OBJECT_HANDLE h = 0;
    CHECK(p->C_UnwrapKey(s, &mech, kek, wrapped, wrapped_len, t, 4, &h));
    wrapped[3] ^= 0x40;
    EXPECT(p->C_UnwrapKey(s, &mech, kek, wrapped, wrapped_len, t, 4, &h),
           CKR_WRAPPED_KEY_INVALID);
}

static void message_round(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
    CK_MECHANISM mech = {CKM_AES_GCM, NULL, 0};
    CK_BYTE iv[12] = {0}, tag[16], aad[5] = "head", data[40] = "message", ct[40], pt[40];
    CK_GCM_MESSAGE_PARAMS prm = {iv, sizeof(iv), 0, CKG_GENERATE_RANDOM, tag, 128};
    CK_ULONG ct_len = sizeof(ct), pt_len = sizeof(pt);
    CHECK(p->C_MessageEncryptInit(s, &mech, key));
    CHECK(p->C_EncryptMessage(s, &prm, sizeof(prm), aad, sizeof(aad), data, sizeof(data), ct,
                              &ct_len));
    CHECK(p->C_MessageEncryptFinal(s));
    prm.ivGenerator = CKG_NO_GENERATE;
    CHECK(p->C_MessageDecryptInit(s, &mech, key));
    CHECK(p->C_DecryptMessage(s, &prm, sizeof(prm), aad, sizeof(aad), ct, ct_len, pt, &pt_len));
    CHECK(p->C_MessageDecryptFinal(s));
}

static void objects_round(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
    CK_OBJECT_CLASS data_cls = CKO_DATA;
    CK_ATTRIBUTE d[] = {{CKA_CLASS, &data_cls, sizeof(data_cls)}, {CKA_TOKEN, &YES, 1},
                        {CKA_LABEL, "data", 4}, {CKA_VALUE, "some value", 10}};
    CK_OBJECT_HANDLE data = 0, copy = 0;
    CHECK(p->C_CreateObject(s, d, 4, &data));
    CK_BYTE label[32];
    CK_ATTRIBUTE get[] = {{CKA_LABEL, NULL, 0}, {CKA_VALUE, NULL, 0}};
    CHECK(p->C_GetAttributeValue(s, data, get, 2));
    get[0].pValue = label;
    get[1].pValue = NULL;
    get[1].ulValueLen = 0;
    CHECK(p->C_GetAttributeValue(s, data, get, 1));
    CK_ATTRIBUTE set[] = {{CKA_LABEL, "renamed", 7}};
    CHECK(p->C_SetAttributeValue(s, key, set, 1));
    CK_ATTRIBUTE value = {CKA_VALUE, label, sizeof(label)};
    EXPECT(p->C_GetAttributeValue(s, key, &value, 1), CKR_ATTRIBUTE_SENSITIVE);
    CK_ATTRIBUTE cp[] = {{CKA_TOKEN, &NO, 1}};
    CHECK(p->C_CopyObject(s, data, cp, 1, &copy));
    CK_ULONG size = 0;
    CHECK(p->C_GetObjectSize(s, copy, &size));
    CHECK(p->C_DestroyObject(s, copy));
    CK_OBJECT_CLASS key_cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE find[] = {{CKA_CLASS, &key_cls, sizeof(key_cls)}};
    CK_OBJECT_HANDLE found[8];
    CK_ULONG nfound = 0;
    CHECK(p->C_FindObjectsInit(s, find, 1));
    CHECK(p->C_FindObjects(s, found, 8, &nfound));
    CHECK(p->C_FindObjectsFinal(s));
    CHECK(p->C_DestroyObject(s, data));
}

static void first_life(CK_SLOT_ID slot)
{
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof(label));
    memcpy(label, "valgrind", 8);
    CHECK(p->C_InitToken(slot, SO_PIN, sizeof(SO_PIN) - 1, label));
    CK_SESSION_HANDLE s;
    CHECK(p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
    CHECK(p->C_Login(s, CKU_SO, SO_PIN, sizeof(SO_PIN) - 1));
    CHECK(p->C_InitPIN(s, USER_PIN, sizeof(USER_PIN) - 1));
    CHECK(p->C_Logout(s));
    EXPECT(p->C_Login(s, CKU_USER, NEW_PIN, sizeof(NEW_PIN) - 1), CKR_PIN_INCORRECT);
    CHECK(p->C_Login(s, CKU_USER, USER_PIN, sizeof(USER_PIN) - 1));

    CK_OBJECT_HANDLE aes = gen(s, CKM_AES_KEY_GEN, CKK_AES, 32, "aes", CK_TRUE);
    CK_OBJECT_HANDLE aes128 = gen(s, CKM_AES_KEY_GEN, CKK_AES, 16, "aes128", CK_FALSE);
    CK_OBJECT_HANDLE hmac = gen(s, CKM_GENERIC_SECRET_KEY_GEN, CKK_GENERIC_SECRET, 32, "hmac",
                                CK_TRUE);
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE kt = CKK_AES;
    CK_BYTE value[24] = {9, 8, 7};
    CK_ATTRIBUTE imp[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_KEY_TYPE, &kt, sizeof(kt)},
                          {CKA_VALUE, value, sizeof(value)}, {CKA_ENCRYPT, &YES, 1},
                          {CKA_DECRYPT, &YES, 1}, {CKA_TOKEN, &NO, 1}};
    CK_OBJECT_HANDLE imported = 0;
    CHECK(p->C_CreateObject(s, imp, 6, &imported));

    CK_BYTE iv[16] = {1, 2, 3, 4};
    CK_MECHANISM cbc_pad = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
    cipher_round(s, &cbc_pad, aes, 100, 0);
    cipher_round(s, &cbc_pad, imported, 33, 1);
    CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
    cipher_round(s, &ecb, aes128, 64, 0);
    CK_AES_CTR_PARAMS ctr = {128, {0}};
    CK_MECHANISM ctr_mech = {CKM_AES_CTR, &ctr, sizeof(ctr)};
    cipher_round(s, &ctr_mech, aes, 77, 1);
    CK_BYTE gcm_iv[12] = {7}, aad[20] = {5};
    CK_GCM_PARAMS gcm = {gcm_iv, sizeof(gcm_iv), 96, aad, sizeof(aad), 128};
    CK_MECHANISM gcm_mech = {CKM_AES_GCM, &gcm, sizeof(gcm)};
    cipher_round(s, &gcm_mech, aes, 200, 0);
    cipher_round(s, &gcm_mech, aes, 50, 1);

    mac_round(s, CKM_AES_CMAC, aes);
    mac_round(s, CKM_SHA256_HMAC, hmac);
    CK_MECHANISM sha = {CKM_SHA256, NULL, 0};
    CK_BYTE digest[32];
    CK_ULONG digest_len = sizeof(digest);
    CHECK(p->C_DigestInit(s, &sha));
    CHECK(p->C_DigestUpdate(s, value, sizeof(value)));
    CHECK(p->C_DigestFinal(s, digest, &digest_len));

    wrap_round(s, CKM_AES_KEY_WRAP, aes, aes128);
    wrap_round(s, CKM_AES_KEY_WRAP_KWP, aes, aes128);
    message_round(s, aes);
    objects_round(s, hmac);

    CK_BYTE rnd[48];
    CHECK(p->C_GenerateRandom(s, rnd, sizeof(rnd)));
    CHECK(p->C_SetPIN(s, USER_PIN, sizeof(USER_PIN) - 1, NEW_PIN, sizeof(NEW_PIN) - 1));
    CK_SESSION_HANDLE ro;
    CHECK(p->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro));
    CHECK(p->C_EncryptInit(ro, &cbc_pad, aes)); /* left active: C_CloseAllSessions ends it */
    CHECK(p->C_Logout(s));
    CHECK(p->C_CloseAllSessions(slot));
}

static void second_life(CK_SLOT_ID slot)
{
    CK_SESSION_HANDLE s;
    CHECK(p->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s));
    CHECK(p->C_Login(s, CKU_USER, NEW_PIN, sizeof(NEW_PIN) - 1));
    CK_ATTRIBUTE find[] = {{CKA_LABEL, "aes", 3}};
    CK_OBJECT_HANDLE key = 0;
    CK_ULONG n = 0;
    CHECK(p->C_FindObjectsInit(s, find, 1));
    CHECK(p->C_FindObjects(s, &key, 1, &n));
    CHECK(p->C_FindObjectsFinal(s));
    if (n != 1) {
        fprintf(stderr, "session_driver: the stored key is gone after C_Finalize\n");
        exit(2);
    }
    CK_BYTE iv[16] = {0};
    CK_MECHANISM cbc_pad = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
    cipher_round(s, &cbc_pad, key, 31, 0);
    CK_OBJECT_HANDLE gone = gen(s, CKM_AES_KEY_GEN, CKK_AES, 16, "destroyed", CK_TRUE);
    CHECK(p->C_DestroyObject(s, gone));
    CHECK(p->C_CloseSession(s));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: session_driver MODULE.so\n");
        return 64;
    }
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fprintf(stderr, "session_driver: %s\n", dlerror());
        return 2;
    }
    CK_C_GetInterface get_interface = (CK_C_GetInterface)dlsym(lib, "C_GetInterface");
    CK_INTERFACE *iface = NULL;
    if (get_interface == NULL || get_interface(NULL, NULL, &iface, 0) != CKR_OK) {
        fprintf(stderr, "session_driver: no PKCS#11 3.0 interface\n");
        return 2;
    }
    p = iface->pFunctionList;
    for (int life = 0; life < 2; life++) {
        CHECK(p->C_Initialize(NULL));
        CK_SLOT_ID slots[8];
        CK_ULONG nslots = 8;
        CHECK(p->C_GetSlotList(CK_FALSE, slots, &nslots));
        CK_INFO info;
        CHECK(p->C_GetInfo(&info));
        if (life == 0) {
            first_life(slots[0]);
        } else {
            second_life(slots[0]);
        }
        CHECK(p->C_Finalize(NULL));
    }
    printf("session_driver: every call as expected\n");
    return 0;
}
