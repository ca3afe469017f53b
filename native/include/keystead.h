/* keystead.h - keystead's public vendor extensions to PKCS#11 3.0.
 *
 * Vendor attribute, return-code and mechanism numbers live in the vendor-defined ranges of
 * PKCS#11 3.0 (CKA_VENDOR_DEFINED, CKR_VENDOR_DEFINED, CKM_VENDOR_DEFINED) with keystead's tag
 * 0x4B53 ("KS") in bits 16..31. Every number here is stable: applications may hard-code it.
 * The README's "Vendor extensions" section documents each one. */
#ifndef KEYSTEAD_H
#define KEYSTEAD_H

#include "pkcs11.h"

#define KS_VENDOR_TAG 0x4B530000UL

/* ---- Key lifecycle (NIST SP 800-57 Part 1 Rev. 5, section 7) -------------------------- */

/* CKA_KS_LIFECYCLE_STATE (CK_ULONG, one of KS_STATE_*): set on every secret key. Keys are
 * created active unless the template says otherwise. C_SetAttributeValue moves a key along an
 * allowed edge only (see README); a forbidden transition fails with
 * CKR_ATTRIBUTE_VALUE_INVALID and changes nothing. */
#define CKA_KS_LIFECYCLE_STATE (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0001UL)
#define KS_STATE_PRE_ACTIVATION 0UL
#define KS_STATE_ACTIVE 1UL
#define KS_STATE_SUSPENDED 2UL
#define KS_STATE_DEACTIVATED 3UL
#define KS_STATE_COMPROMISED 4UL
#define KS_STATE_DESTROYED 5UL

/* CKA_KS_PROCESS_START_DATE / CKA_KS_PROCESS_END_DATE (CK_DATE): the recipient-usage period.
 * Processing operations (decrypt, verify, unwrap) are refused outside it. CKA_START_DATE and
 * CKA_END_DATE bound the originator-usage (protect) period. Empty means unbounded. */
#define CKA_KS_PROCESS_START_DATE (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0002UL)
#define CKA_KS_PROCESS_END_DATE (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0003UL)

/* CKA_KS_USAGE_COUNT (CK_ULONG, read-only): operations initialised with the key so far,
 * persisted so that no restart, crash or second process under-counts.
 * CKA_KS_USAGE_LIMIT (CK_ULONG, settable, 0 = no limit): at the limit every *Init with the key
 * fails with CKR_KEY_FUNCTION_NOT_PERMITTED. */
#define CKA_KS_USAGE_COUNT (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0004UL)
#define CKA_KS_USAGE_LIMIT (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0005UL)

/* CKA_KS_PROCESS_OVERRIDE (CK_BBOOL): when true, a suspended or compromised key may process
 * (decrypt, verify, unwrap). Setting it is audited. */
#define CKA_KS_PROCESS_OVERRIDE (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0006UL)

/* CKA_KS_GCM_INVOCATIONS (CK_ULONG, read-only): AES-GCM invocations with token-generated IVs
 * (SP 800-38D 8.3). At 2^32 the key refuses further GCM encryption. */
#define CKA_KS_GCM_INVOCATIONS (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0007UL)

/* CKA_KS_TRANSITION_REASON (UTF-8, write-with-transition): the reason recorded in the audit
 * trail with the next lifecycle transition set in the same template. */
#define CKA_KS_TRANSITION_REASON (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0008UL)

/* CKA_KS_VALUE_KNOWN (CK_BBOOL, read-only): true when the key's value may be known outside
 * the token: imported with C_CreateObject, or unwrapped under a key whose value may be known. */
#define CKA_KS_VALUE_KNOWN (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0009UL)

/* ---- Compatibility aliases ------------------------------------------------------------ */

/* SoftHSMv2 implements RFC 5649 under CKM_AES_KEY_WRAP_PAD (0x210A). PKCS#11 3.0 names RFC 5649
 * CKM_AES_KEY_WRAP_KWP (0x210B). keystead accepts 0x210A as an alias of 0x210B only when the
 * configuration says `kwp_alias = softhsm`; by default 0x210A is not supported. */

#endif
