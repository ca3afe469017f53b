/* keystead.h - keystead's public vendor extensions to PKCS#11 3.0.
 *
 * Vendor attribute, return-code and mechanism numbers live in the vendor-defined ranges of
 * PKCS#11 3.0 (CKA_VENDOR_DEFINED, CKR_VENDOR_DEFINED, CKM_VENDOR_DEFINED) with keystead's tag
 * 0x4B53 ("KS") in bits 8..23, so that bit 30 (CKF_ARRAY_ATTRIBUTE) stays clear. Every number
 * here is stable: applications may hard-code it.
 * The README's "Vendor extensions" section documents each one. */
#ifndef KEYSTEAD_H
#define KEYSTEAD_H

#include "pkcs11.h"

#define KS_VENDOR_TAG 0x004B5300UL

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

/* CKA_KS_USAGE_COUNT (CK_ULONG, read-only): operations initialised with the key's value so
 * far, shared by every copy, session object and unwrapped copy of the value, persisted so
 * that no restart, crash or second process under-counts (docs/authority.md).
 * CKA_KS_USAGE_LIMIT (CK_ULONG, settable, 0 = no limit): at the limit every *Init with the key
 * fails with CKR_KEY_FUNCTION_NOT_PERMITTED. */
#define CKA_KS_USAGE_COUNT (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0004UL)
#define CKA_KS_USAGE_LIMIT (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0005UL)

/* CKA_KS_PROCESS_OVERRIDE (CK_BBOOL): when true, a suspended or compromised key may process
 * (decrypt, verify, unwrap). Setting it is audited. */
#define CKA_KS_PROCESS_OVERRIDE (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0006UL)

/* CKA_KS_GCM_INVOCATIONS (CK_ULONG, read-only): AES-GCM invocations with token-generated IVs
 * (SP 800-38D 8.3): the message functions' CKG_GENERATE, CKG_GENERATE_COUNTER and
 * CKG_GENERATE_RANDOM, and KS_EncryptMessages. A token key reserves invocation numbers in
 * durable blocks of 4096, so this reads the numbers reserved (handed out or skipped), which
 * is never less than those used. At 2^32 the key refuses further generated IVs with
 * CKR_KEY_FUNCTION_NOT_PERMITTED. */
#define CKA_KS_GCM_INVOCATIONS (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0007UL)

/* CKA_KS_TRANSITION_REASON (UTF-8, write-with-transition): the reason recorded in the audit
 * trail with the next lifecycle transition set in the same template. */
#define CKA_KS_TRANSITION_REASON (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0008UL)

/* CKA_KS_VALUE_KNOWN (CK_BBOOL, read-only): true when the key's value may be known outside
 * the token: imported with C_CreateObject, or unwrapped under a key whose value may be known. */
#define CKA_KS_VALUE_KNOWN (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x0009UL)

/* CKA_KS_PKCS8 (internal, byte array): a private key's value, its PKCS#8 PrivateKeyInfo DER
 * (RFC 5208), sealed in the store as a secret key's CKA_VALUE is. It is keystead's own
 * holding of the key: never returned by C_GetAttributeValue (CKR_ATTRIBUTE_SENSITIVE), never
 * matched by C_FindObjects and never accepted in a template (CKR_ATTRIBUTE_READ_ONLY). The
 * spec's private components (CKA_PRIVATE_EXPONENT ..., CKA_VALUE of EC keys) are read from
 * it when the key is neither sensitive nor unextractable. */
#define CKA_KS_PKCS8 (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x000BUL)

/* Vendor attribute numbers 0x000B-0x002F are reserved for the key-pair work as it lands:
 * 0x000B-0x000F objects, 0x0010-0x0014 derivation and pair lifecycle, 0x0015-0x0019 legacy,
 * 0x001A-0x001D signatures, 0x001E-0x0021 RSA encryption. */

/* ---- Governance: the manager user type (docs/authority.md) -------------------------- */

/* CKU_KS_MANAGER (CK_USER_TYPE for C_Login / C_LoginUser): the key manager's credential.
 * Logged in, it uses keys as the normal user does, and it alone changes what governs a
 * manager-governed key (CKA_KS_GOVERNED true): CKA_KS_LIFECYCLE_STATE, CKA_KS_USAGE_LIMIT,
 * CKA_KS_PROCESS_OVERRIDE, CKA_START_DATE, CKA_END_DATE, CKA_KS_PROCESS_START_DATE,
 * CKA_KS_PROCESS_END_DATE and CKA_KS_GOVERNED itself. Anyone else changing one of them (in
 * C_SetAttributeValue or a C_CopyObject template) gets CKR_ATTRIBUTE_READ_ONLY. Its PIN is
 * set by the SO with KS_InitManagerPIN and changed by the manager with C_SetPIN; until it is
 * set, C_Login(CKU_KS_MANAGER) answers CKR_USER_PIN_NOT_INITIALIZED. The manager and the
 * user exclude each other as C_Login's user types do (CKR_USER_ANOTHER_ALREADY_LOGGED_IN). */
#define CKU_KS_VENDOR_BIT 0x80000000UL
#define CKU_KS_MANAGER (CKU_KS_VENDOR_BIT | KS_VENDOR_TAG | 0x0001UL)

/* CKA_KS_GOVERNED (CK_BBOOL, default false): the key is manager-governed. A key that the
 * manager creates, generates, unwraps or copies is governed whatever its template says;
 * only the manager sets or clears it on an existing key. */
#define CKA_KS_GOVERNED (CKA_VENDOR_DEFINED | KS_VENDOR_TAG | 0x000AUL)

/* KS_InitManagerPIN sets the manager's PIN (CKU_KS_MANAGER), as C_InitPIN sets the user's:
 * the SO must be logged in (else CKR_USER_NOT_LOGGED_IN) in a R/W session
 * (CKR_SESSION_READ_ONLY); the PIN is 4..255 bytes (CKR_PIN_LEN_RANGE). Setting it again
 * replaces it and clears its failed-login count. */
CK_RV KS_InitManagerPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen);

/* ---- Bulk AES-GCM (vendor functions) -------------------------------------------------- */

/* WARNING: KS_EncryptMessages makes every IV itself, as SP 800-38D 8.2.1 asks: a 4-byte fixed
 * field (pIvFixed, or zeros) followed by the key's next 8-byte invocation number, big-endian.
 * Invocation numbers come from the same per-key counter as the message-based functions'
 * generated IVs (CKA_KS_GCM_INVOCATIONS): reserved in durable blocks, never reused by any
 * process, and at most 2^32 per key (SP 800-38D 8.3). Two key objects holding the same key
 * value have separate counters: give them different fixed fields. */

/* KS_GCM_BULK_IV_LEN is the length of every IV of the bulk functions. */
#define KS_GCM_BULK_IV_LEN 12UL
/* KS_GCM_BULK_MAX_THREADS bounds ulThreads. */
#define KS_GCM_BULK_MAX_THREADS 64UL

/* KS_EncryptMessages encrypts ulCount independent messages with AES-GCM under hKey, each
 * with a token-generated IV, optionally spread over ulThreads worker threads (0 or 1: the
 * calling thread only; the library may use fewer threads for small batches, and uses the
 * calling thread only when C_Initialize was given CKF_LIBRARY_CANT_CREATE_OS_THREADS).
 *
 * Inputs: message i is ppIn[i] (pulInLen[i] bytes) with associated data ppAad[i]
 * (pulAadLen[i] bytes); ppAad may be NULL for no associated data at all. The key needs
 * CKA_ENCRYPT, must allow CKM_AES_GCM, and is checked exactly as C_MessageEncryptInit
 * checks it (lifecycle state, usage period, usage limit: one use per call).
 *
 * Outputs: the ciphertexts go one after the other into the arena pOut, message i at the
 * offset pulInLen[0] + ... + pulInLen[i - 1]; *pulOutLen holds the arena's size and gets the
 * bytes written. IV i goes to pIvs + 12 * i, tag i (ulTagLen bytes, 4..16) to
 * pTags + ulTagLen * i. Outputs may not overlap inputs except that ppIn[i] may equal the
 * output place of message i. The call allocates nothing per message.
 *
 * PKCS#11 5.2 conventions: pOut NULL asks for the arena size (in *pulOutLen; nothing else
 * happens); a smaller arena gives CKR_BUFFER_TOO_SMALL with the size in *pulOutLen.
 *
 * Failures (nothing is encrypted, no invocation number is taken unless stated):
 * CKR_ARGUMENTS_BAD (a NULL pointer that is needed, ulTagLen outside 4..16, ulThreads above
 * KS_GCM_BULK_MAX_THREADS), CKR_DATA_LEN_RANGE (a message above 2^36 - 32 bytes, or a total
 * that does not fit a CK_ULONG), CKR_KEY_FUNCTION_NOT_PERMITTED (the key may not encrypt now,
 * or fewer than ulCount invocations remain below 2^32: then none is taken), the key and
 * session codes of C_MessageEncryptInit, CKR_DEVICE_ERROR when the counter cannot be
 * persisted. CKR_GENERAL_ERROR cannot happen (messages before the failure may be written). */
CK_RV KS_EncryptMessages(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pOut,
                         CK_ULONG_PTR pulOutLen, CK_BYTE_PTR pIvs, CK_BYTE_PTR pTags,
                         CK_ULONG ulTagLen, CK_ULONG ulCount, CK_BYTE_PTR const *ppIn,
                         const CK_ULONG *pulInLen, CK_BYTE_PTR const *ppAad,
                         const CK_ULONG *pulAadLen, const CK_BYTE *pIvFixed,
                         CK_ULONG ulThreads);

/* KS_DecryptMessages decrypts and authenticates ulCount AES-GCM messages under hKey (which
 * needs CKA_DECRYPT and is checked as C_MessageDecryptInit checks it), with the layout of
 * KS_EncryptMessages: ciphertext i is ppIn[i] (pulInLen[i] bytes), its associated data
 * ppAad[i], its IV pIvs + 12 * i, its tag pTags + ulTagLen * i; plaintext i goes into the
 * arena pOut at the offset pulInLen[0] + ... + pulInLen[i - 1].
 *
 * Fail closed: each message's tag is checked first, and only then is the message decrypted
 * straight into the arena (nothing staged: no memory grows with the messages); a message
 * whose tag does not verify gets zeros, and so does one whose input changed during the call
 * (the second pass hashes what it decrypts again). pOk, when not NULL, gets ulCount bytes, 1 for each
 * message that verified and 0 for the others; when pOk is NULL, every tag is verified before
 * any plaintext is written, and if any fails nothing is written. Any failed tag makes the
 * call return CKR_ENCRYPTED_DATA_INVALID (the other messages are still decrypted when pOk is
 * given). Other failures as
 * KS_EncryptMessages (CKR_ENCRYPTED_DATA_LEN_RANGE for a message too long), with nothing
 * written. Every output byte is written once, with its final value. */
CK_RV KS_DecryptMessages(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey, CK_BYTE_PTR pOut,
                         CK_ULONG_PTR pulOutLen, CK_BYTE_PTR pOk, CK_ULONG ulCount,
                         CK_BYTE_PTR const *ppIn, const CK_ULONG *pulInLen,
                         CK_BYTE_PTR const *ppAad, const CK_ULONG *pulAadLen,
                         const CK_BYTE *pIvs, const CK_BYTE *pTags, CK_ULONG ulTagLen,
                         CK_ULONG ulThreads);

/* ---- Compatibility aliases ------------------------------------------------------------ */

/* SoftHSMv2 implements RFC 5649 under CKM_AES_KEY_WRAP_PAD (0x210A). PKCS#11 3.0 names RFC 5649
 * CKM_AES_KEY_WRAP_KWP (0x210B). keystead accepts 0x210A as an alias of 0x210B only when the
 * configuration says `kwp_alias = softhsm`; by default 0x210A is not supported. */

#endif
