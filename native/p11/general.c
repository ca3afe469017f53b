/* general.c - general-purpose functions (PKCS#11 3.0 5.4), random numbers (5.15) and the
 * legacy parallel functions (5.16). */
#include <stdint.h>
#include <string.h>

#include "crypto/copyout.h"
#include "crypto/mem.h"
#include "crypto/rand.h"
#include "p11/guard.h"
#include "p11/util.h"

#ifndef KS_VERSION_STRING
#define KS_VERSION_STRING "0.0.0"
#endif

KS_EXPORT CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
    return ks_p11_exit("C_Initialize", KS_NO_SESSION, KS_NO_MECH,
                       ks_module_initialize(pInitArgs));
}

KS_EXPORT CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
    return ks_module_finalize(pReserved);
}

static CK_RV get_info(CK_INFO_PTR pInfo)
{
    if (pInfo == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_RV rv = ks_module_lock();
    if (rv != CKR_OK) {
        return rv;
    }
    ks_module_unlock();
    CK_INFO info;
    memset(&info, 0, sizeof(info));
    info.cryptokiVersion.major = 3;
    info.cryptokiVersion.minor = 0;
    ks_p11_pad(info.manufacturerID, sizeof(info.manufacturerID), "keystead");
    ks_p11_pad(info.libraryDescription, sizeof(info.libraryDescription),
               "keystead PKCS#11 software HSM");
    ks_p11_version(&info.libraryVersion, KS_VERSION_STRING);
    info.flags = 0;
    ks_copy_out(pInfo, &info, sizeof(info));
    return CKR_OK;
}

KS_EXPORT CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
    return ks_p11_exit("C_GetInfo", KS_NO_SESSION, KS_NO_MECH, get_info(pInfo));
}

/* 5.5 C_WaitForSlotEvent: slots never change by themselves here (tokens are files, not
 * removable devices), so a non-blocking call has no event and a blocking one would wait
 * forever: it is refused rather than hang. */
KS_EXPORT CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR pSlot, CK_VOID_PTR pReserved)
{
    CK_RV rv = ks_module_lock();
    if (rv != CKR_OK) {
        return rv;
    }
    ks_module_unlock();
    if (pSlot == NULL || pReserved != NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    return (flags & CKF_DONT_BLOCK) ? CKR_NO_EVENT : CKR_FUNCTION_NOT_SUPPORTED;
}

/* 5.16: legacy functions; "CKR_FUNCTION_NOT_PARALLEL" is what a non-parallel library says. */
static CK_RV legacy(CK_SESSION_HANDLE hSession)
{
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_session_release(s);
    return CKR_FUNCTION_NOT_PARALLEL;
}

KS_EXPORT CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE hSession)
{
    return legacy(hSession);
}

KS_EXPORT CK_RV C_CancelFunction(CK_SESSION_HANDLE hSession)
{
    return legacy(hSession);
}

static CK_RV seed_random(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_session_release(s);
    if (pSeed == NULL && ulSeedLen != 0) {
        return CKR_ARGUMENTS_BAD;
    }
    /* 5.17: the seed is mixed into the DRBG as additional input, beside fresh entropy from
     * its own sources (crypto/rand.h): it adds to the state, it never replaces entropy. */
    return ks_random_seed(pSeed, ulSeedLen) == KS_OK ? CKR_OK : CKR_FUNCTION_FAILED;
}

KS_EXPORT CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
    return ks_p11_exit("C_SeedRandom", hSession, KS_NO_MECH,
                       seed_random(hSession, pSeed, ulSeedLen));
}

static CK_RV generate_random(CK_SESSION_HANDLE hSession, CK_BYTE_PTR out, CK_ULONG len)
{
    /* No buffer is longer than PTRDIFF_MAX bytes: such a length is refused unwritten. */
    if ((out == NULL && len != 0) || len > (CK_ULONG)PTRDIFF_MAX) {
        return CKR_ARGUMENTS_BAD;
    }
    ks_session *s = NULL;
    CK_RV rv = ks_session_acquire(hSession, &s);
    if (rv != CKR_OK) {
        return rv;
    }
    ks_session_release(s);
    /* Drawn into module memory and copied out (crypto/copyout.h), a block at a time. */
    uint8_t block[4096];
    for (CK_ULONG done = 0; done < len;) {
        size_t n = len - done < sizeof(block) ? (size_t)(len - done) : sizeof(block);
        if (ks_random(block, n) != KS_OK) {
            ks_wipe(block, sizeof(block));
            return CKR_FUNCTION_FAILED;
        }
        ks_copy_out(out + done, block, n);
        done += n;
    }
    ks_wipe(block, sizeof(block));
    return CKR_OK;
}

KS_EXPORT CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR RandomData,
                                 CK_ULONG ulRandomLen)
{
    return ks_p11_exit("C_GenerateRandom", hSession, KS_NO_MECH,
                       generate_random(hSession, RandomData, ulRandomLen));
}
