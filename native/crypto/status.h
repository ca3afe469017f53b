/* status.h - the one status type of the crypto layer.
 *
 * Core functions return ks_status; the PKCS#11 front converts it to a CK_RV once
 * (p11/rv.c). KS_ERR_AUTH is the single code for every failed integrity check (GCM tag,
 * KW/KWP ICV or padding), so that callers cannot tell one failure from another. */
#ifndef KS_CRYPTO_STATUS_H
#define KS_CRYPTO_STATUS_H

typedef enum ks_status {
    KS_OK = 0,
    KS_ERR_ARGS,      /* a NULL pointer or a value outside its documented range */
    KS_ERR_KEY_LEN,   /* key length not supported by the primitive */
    KS_ERR_LEN,       /* input length not allowed (not a multiple, too short, too long) */
    KS_ERR_AUTH,      /* integrity check failed; outputs were wiped */
    KS_ERR_NOMEM,     /* allocation failed */
    KS_ERR_UNSUPPORTED, /* the processor or the library lacks what is needed */
    KS_ERR_INTERNAL,  /* cannot happen: a libcrypto call failed unexpectedly */
} ks_status;

#endif
