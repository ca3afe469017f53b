/* copyout_tracer.c - watch every store the module makes into a caller's output buffer.
 *
 * The output buffer is a page of shared memory (memfd, MAP_SHARED: what another process
 * could map) kept read-only during the call. Each store into it faults; the SIGSEGV handler
 * makes the page writable and sets the trap flag, so the store runs alone and SIGTRAP
 * follows at once; that handler takes a snapshot of the buffer and makes the page read-only
 * again. The snapshots are every state the buffer passed through, in order, with no race:
 * the checks do not depend on scheduling.
 *
 * Checks, for the mode given on the command line:
 *   - no snapshot holds 8 consecutive bytes of the secret (the wrapped key, or the
 *     plaintext of a decryption);
 *   - every byte that differs from the fill value in a snapshot already holds its final
 *     value (each output byte is written once, with its final value);
 *   - a call that fails (a bad GCM tag) writes nothing at all.
 * Prints "ok stores=N" and exits 0, or one line naming what failed and exits 1.
 * x86-64 Linux only (the trap flag in the saved RFLAGS).
 *
 * usage: copyout_tracer MODULE MODE   (KEYSTEAD_CONF names a :memory: token configuration)
 * modes: kw, kwp, kw-zero-pad, gcm-good, gcm-bad, gcm-final-bad, msg-bad, bulk-bad, bulk-some */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "pkcs11.h"
#include "keystead.h"

#define FILL 0xA5
#define MAX_SNAPS 20000
#define WATCH 128

static uint8_t *page;
static size_t page_len;
static uint8_t snaps[MAX_SNAPS][WATCH];
static size_t nsnaps;
static size_t stores;

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    uint8_t *at = si->si_addr;
    if (at < page || at >= page + page_len) {
        signal(sig, SIG_DFL);
        return; /* not ours: the default action on return */
    }
    ucontext_t *uc = ctx;
    mprotect(page, page_len, PROT_READ | PROT_WRITE);
    uc->uc_mcontext.gregs[REG_EFL] |= 0x100;
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
    (void)sig;
    (void)si;
    ucontext_t *uc = ctx;
    uc->uc_mcontext.gregs[REG_EFL] &= ~(greg_t)0x100;
    stores++;
    if (nsnaps < MAX_SNAPS) {
        memcpy(snaps[nsnaps++], page, WATCH);
    }
    mprotect(page, page_len, PROT_READ);
}

static CK_FUNCTION_LIST_PTR f;
static void *module;

static void must(CK_RV rv, const char *what)
{
    if (rv != CKR_OK) {
        printf("setup: %s returned 0x%lx\n", what, (unsigned long)rv);
        exit(2);
    }
}

static CK_SESSION_HANDLE user_session(void)
{
    CK_ULONG n = 16;
    CK_SLOT_ID slots[16];
    must(f->C_GetSlotList(CK_TRUE, slots, &n), "C_GetSlotList");
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof(label));
    must(f->C_InitToken(slots[0], (CK_UTF8CHAR_PTR) "so-pin-1", 8, label), "C_InitToken");
    CK_SESSION_HANDLE h;
    must(f->C_OpenSession(slots[0], CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &h),
         "C_OpenSession");
    must(f->C_Login(h, CKU_SO, (CK_UTF8CHAR_PTR) "so-pin-1", 8), "C_Login SO");
    must(f->C_InitPIN(h, (CK_UTF8CHAR_PTR) "user-pin", 8), "C_InitPIN");
    must(f->C_Logout(h), "C_Logout");
    must(f->C_Login(h, CKU_USER, (CK_UTF8CHAR_PTR) "user-pin", 8), "C_Login");
    return h;
}

static CK_OBJECT_HANDLE make_key(CK_SESSION_HANDLE h, CK_KEY_TYPE type, const uint8_t *v,
                                 CK_ULONG len, CK_BBOOL wrap, CK_BBOOL crypt)
{
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},       {CKA_KEY_TYPE, &type, sizeof(type)},
        {CKA_TOKEN, &no, sizeof(no)},         {CKA_VALUE, (void *)v, len},
        {CKA_SENSITIVE, &yes, sizeof(yes)},   {CKA_EXTRACTABLE, &yes, sizeof(yes)},
        {CKA_WRAP, &wrap, sizeof(wrap)},      {CKA_UNWRAP, &wrap, sizeof(wrap)},
        {CKA_ENCRYPT, &crypt, sizeof(crypt)}, {CKA_DECRYPT, &crypt, sizeof(crypt)},
    };
    CK_ULONG count = type == CKK_GENERIC_SECRET ? 8 : 10;
    CK_OBJECT_HANDLE k;
    must(f->C_CreateObject(h, t, count, &k), "C_CreateObject");
    return k;
}

/* The checks over the snapshots: see the header comment. */
static int judge(const uint8_t *secret, size_t secret_len, const uint8_t *final,
                 size_t final_len, int must_not_write)
{
    if (must_not_write && stores != 0) {
        printf("a failed call wrote %zu times into the caller's buffer\n", stores);
        return 1;
    }
    for (size_t s = 0; s < nsnaps; s++) {
        for (size_t i = 0; i + 8 <= WATCH; i++) {
            for (size_t j = 0; j + 8 <= secret_len; j++) {
                if (memcmp(snaps[s] + i, secret + j, 8) == 0) {
                    printf("store %zu left secret bytes %zu..%zu in the caller's buffer\n",
                           s + 1, j, j + 7);
                    return 1;
                }
            }
        }
        for (size_t i = 0; i < final_len; i++) {
            if (snaps[s][i] != FILL && snaps[s][i] != final[i]) {
                printf("store %zu wrote byte %zu with a value that is not final\n", s + 1, i);
                return 1;
            }
        }
    }
    printf("ok stores=%zu\n", stores);
    return 0;
}

/* watch(1) fills the buffer and starts watching; watch(0) stops, leaving it as it is. */
static void watch(int on)
{
    if (on) {
        memset(page, FILL, page_len);
        stores = nsnaps = 0;
    }
    mprotect(page, page_len, on ? PROT_READ : PROT_READ | PROT_WRITE);
}

static int run_wrap(CK_SESSION_HANDLE h, CK_MECHANISM_TYPE m, CK_KEY_TYPE type, CK_ULONG len)
{
    uint8_t kek[32], value[32];
    for (int i = 0; i < 32; i++) {
        kek[i] = (uint8_t)(0x40 + i);
        value[i] = (uint8_t)(0x11 * (i + 1) ^ 0x5c);
    }
    CK_OBJECT_HANDLE hk = make_key(h, CKK_AES, kek, 32, CK_TRUE, CK_FALSE);
    CK_OBJECT_HANDLE target = make_key(h, type, value, len, CK_FALSE, CK_FALSE);
    CK_MECHANISM mech = {m, NULL, 0};
    CK_ULONG n = page_len;
    watch(1);
    CK_RV rv = f->C_WrapKey(h, &mech, hk, target, page, &n);
    watch(0);
    if (rv != CKR_OK) {
        printf("C_WrapKey returned 0x%lx\n", (unsigned long)rv);
        return 1;
    }
    return judge(value, len, page, n, 0);
}

static int run_gcm(CK_SESSION_HANDLE h, int bad, int multipart)
{
    uint8_t key[32], iv[12] = {1, 2, 3}, plain[64], ct[80];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(0x70 + i);
    }
    for (int i = 0; i < 64; i++) {
        plain[i] = (uint8_t)(0x33 * i + 7);
    }
    CK_OBJECT_HANDLE k = make_key(h, CKK_AES, key, 32, CK_FALSE, CK_TRUE);
    CK_GCM_PARAMS p = {iv, 12, 96, NULL, 0, 128};
    CK_MECHANISM mech = {CKM_AES_GCM, &p, sizeof(p)};
    CK_ULONG n = sizeof(ct);
    must(f->C_EncryptInit(h, &mech, k), "C_EncryptInit");
    must(f->C_Encrypt(h, plain, 64, ct, &n), "C_Encrypt");
    if (bad) {
        ct[79] ^= 1;
    }
    must(f->C_DecryptInit(h, &mech, k), "C_DecryptInit");
    CK_RV rv;
    n = page_len;
    watch(1);
    if (multipart) {
        CK_ULONG part = page_len;
        rv = f->C_DecryptUpdate(h, ct, 40, page, &part);
        if (rv == CKR_OK) {
            rv = f->C_DecryptUpdate(h, ct + 40, 40, page, &part);
        }
        if (rv == CKR_OK) {
            rv = f->C_DecryptFinal(h, page, &n);
        }
    } else {
        rv = f->C_Decrypt(h, ct, 80, page, &n);
    }
    watch(0);
    if (rv != (bad ? CKR_ENCRYPTED_DATA_INVALID : CKR_OK)) {
        printf("decryption returned 0x%lx\n", (unsigned long)rv);
        return 1;
    }
    /* A verified plaintext is the output itself: then only the write pattern is judged. */
    return judge(plain, bad ? 64 : 0, plain, bad ? 0 : 64, bad);
}

static int run_msg_bad(CK_SESSION_HANDLE h)
{
    uint8_t key[32], iv[12] = {9}, tag[16], plain[64], ct[64];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(0x21 + i);
    }
    for (int i = 0; i < 64; i++) {
        plain[i] = (uint8_t)(0x5b * i + 3);
    }
    CK_OBJECT_HANDLE k = make_key(h, CKK_AES, key, 32, CK_FALSE, CK_TRUE);
    CK_MECHANISM mech = {CKM_AES_GCM, NULL, 0};
    CK_GCM_MESSAGE_PARAMS p = {iv, 12, 0, CKG_NO_GENERATE, tag, 128};
    CK_FUNCTION_LIST_3_0_PTR f3 = NULL;
    CK_INTERFACE_PTR itf = NULL;
    CK_C_GetInterface get = (CK_C_GetInterface)dlsym(module, "C_GetInterface");
    if (get == NULL) {
        printf("setup: no C_GetInterface\n");
        return 2;
    }
    must(get((CK_UTF8CHAR_PTR) "PKCS 11", NULL, &itf, 0), "C_GetInterface");
    f3 = itf->pFunctionList;
    CK_ULONG n = sizeof(ct);
    must(f3->C_MessageEncryptInit(h, &mech, k), "C_MessageEncryptInit");
    must(f3->C_EncryptMessage(h, &p, sizeof(p), NULL, 0, plain, 64, ct, &n), "C_EncryptMessage");
    must(f3->C_MessageEncryptFinal(h), "C_MessageEncryptFinal");
    tag[0] ^= 1;
    must(f3->C_MessageDecryptInit(h, &mech, k), "C_MessageDecryptInit");
    n = page_len;
    watch(1);
    CK_RV rv = f3->C_DecryptMessage(h, &p, sizeof(p), NULL, 0, ct, 64, page, &n);
    watch(0);
    if (rv != CKR_ENCRYPTED_DATA_INVALID) {
        printf("C_DecryptMessage returned 0x%lx\n", (unsigned long)rv);
        return 1;
    }
    return judge(plain, 64, plain, 0, 1);
}

/* KS_DecryptMessages of 4 messages whose third tag is wrong: with pOk NULL nothing may be
 * written (all or nothing); with pOk each verified message is written once and the bad one
 * gets zeros, once. */
static int run_bulk(CK_SESSION_HANDLE h, int with_ok)
{
    typedef CK_RV (*enc_fn)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR,
                            CK_BYTE_PTR, CK_BYTE_PTR, CK_ULONG, CK_ULONG, CK_BYTE_PTR const *,
                            const CK_ULONG *, CK_BYTE_PTR const *, const CK_ULONG *,
                            const CK_BYTE *, CK_ULONG);
    typedef CK_RV (*dec_fn)(CK_SESSION_HANDLE, CK_OBJECT_HANDLE, CK_BYTE_PTR, CK_ULONG_PTR,
                            CK_BYTE_PTR, CK_ULONG, CK_BYTE_PTR const *, const CK_ULONG *,
                            CK_BYTE_PTR const *, const CK_ULONG *, const CK_BYTE *,
                            const CK_BYTE *, CK_ULONG, CK_ULONG);
    enc_fn enc = (enc_fn)dlsym(module, "KS_EncryptMessages");
    dec_fn dec = (dec_fn)dlsym(module, "KS_DecryptMessages");
    if (enc == NULL || dec == NULL) {
        printf("setup: no bulk functions\n");
        return 2;
    }
    uint8_t key[32], plain[4][24], ct[96], ivs[48], tags[64], ok[4];
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(0x90 + i);
    }
    for (int m = 0; m < 4; m++) {
        for (int i = 0; i < 24; i++) {
            plain[m][i] = (uint8_t)(0x1d * i + 0x40 * m + 1);
        }
    }
    CK_OBJECT_HANDLE k = make_key(h, CKK_AES, key, 32, CK_FALSE, CK_TRUE);
    CK_BYTE_PTR in[4] = {plain[0], plain[1], plain[2], plain[3]};
    CK_ULONG lens[4] = {24, 24, 24, 24}, n = sizeof(ct);
    must(enc(h, k, ct, &n, ivs, tags, 16, 4, in, lens, NULL, NULL, NULL, 1),
         "KS_EncryptMessages");
    tags[2 * 16] ^= 1;
    CK_BYTE_PTR cts[4] = {ct, ct + 24, ct + 48, ct + 72};
    n = page_len;
    watch(1);
    CK_RV rv = dec(h, k, page, &n, with_ok ? ok : NULL, 4, cts, lens, NULL, NULL, ivs, tags,
                   16, 1);
    watch(0);
    if (rv != CKR_ENCRYPTED_DATA_INVALID) {
        printf("KS_DecryptMessages returned 0x%lx\n", (unsigned long)rv);
        return 1;
    }
    uint8_t final[96];
    memcpy(final, plain, sizeof(final));
    memset(final + 48, 0, 24);
    /* The bad message's plaintext must never appear; the others are the output itself. */
    return judge(plain[2], with_ok ? 24 : 0, final, with_ok ? 96 : 0, !with_ok);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODULE MODE\n", argv[0]);
        return 2;
    }
    module = dlopen(argv[1], RTLD_NOW);
    if (module == NULL) {
        printf("setup: %s\n", dlerror());
        return 2;
    }
    CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(module, "C_GetFunctionList");
    must(gfl(&f), "C_GetFunctionList");
    must(f->C_Initialize(NULL), "C_Initialize");
    CK_SESSION_HANDLE h = user_session();

    page_len = (size_t)sysconf(_SC_PAGESIZE);
    int fd = memfd_create("caller-output", 0);
    if (fd < 0 || ftruncate(fd, (off_t)page_len) != 0) {
        printf("setup: memfd\n");
        return 2;
    }
    page = mmap(NULL, page_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (page == MAP_FAILED) {
        printf("setup: mmap\n");
        return 2;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_flags = SA_SIGINFO;
    sa.sa_sigaction = on_segv;
    sigaction(SIGSEGV, &sa, NULL);
    sa.sa_sigaction = on_trap;
    sigaction(SIGTRAP, &sa, NULL);

    const char *mode = argv[2];
    int rc;
    if (strcmp(mode, "kw") == 0) {
        rc = run_wrap(h, CKM_AES_KEY_WRAP, CKK_AES, 32);
    } else if (strcmp(mode, "kwp") == 0) {
        rc = run_wrap(h, CKM_AES_KEY_WRAP_KWP, CKK_GENERIC_SECRET, 20);
    } else if (strcmp(mode, "kw-zero-pad") == 0) {
        rc = run_wrap(h, CKM_AES_KEY_WRAP, CKK_GENERIC_SECRET, 20);
    } else if (strcmp(mode, "gcm-good") == 0) {
        rc = run_gcm(h, 0, 0);
    } else if (strcmp(mode, "gcm-bad") == 0) {
        rc = run_gcm(h, 1, 0);
    } else if (strcmp(mode, "gcm-final-bad") == 0) {
        rc = run_gcm(h, 1, 1);
    } else if (strcmp(mode, "msg-bad") == 0) {
        rc = run_msg_bad(h);
    } else if (strcmp(mode, "bulk-bad") == 0) {
        rc = run_bulk(h, 0);
    } else if (strcmp(mode, "bulk-some") == 0) {
        rc = run_bulk(h, 1);
    } else {
        printf("unknown mode %s\n", mode);
        rc = 2;
    }
    f->C_Finalize(NULL);
    return rc;
}
