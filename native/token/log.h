/* log.h - the JSON call log (configuration: log_file, log_level). One line per call:
 * {"time":..., "pid":..., "fn":"C_Encrypt", "session":N, "mechanism":"0x...", "rv":"CKR_...",
 *  "attr":"0x...", "why":"..."}. Never any key material, PIN or data. Thread safe. */
#ifndef KS_TOKEN_LOG_H
#define KS_TOKEN_LOG_H

#include "pkcs11.h"
#include "token/config.h"

CK_RV ks_log_open(const ks_config *cfg);
void ks_log_close(void);

/* ks_log_call records one call. session/mechanism/attr: (CK_ULONG)-1 when not applicable;
 * why may be NULL. Logged when rv != CKR_OK at level error, every call at info. */
void ks_log_call(const char *fn, CK_SESSION_HANDLE session, CK_MECHANISM_TYPE mechanism,
                 CK_RV rv, CK_ATTRIBUTE_TYPE attr, const char *why);

/* ks_log_message writes a free-form line at level (e.g. a configuration error). */
void ks_log_message(ks_log_level level, const char *msg);

/* ks_rv_name returns "CKR_..." for rv, or "CKR_VENDOR_DEFINED+0x..." / "unknown". */
const char *ks_rv_name(CK_RV rv);

#endif
