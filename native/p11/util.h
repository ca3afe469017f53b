/* util.h - small helpers of the front: blank-padded strings, versions. */
#ifndef KS_P11_UTIL_H
#define KS_P11_UTIL_H

#include <stddef.h>

#include "pkcs11.h"

/* ks_p11_pad copies s into a blank-padded, not NUL-terminated field of len bytes. The
 * field may be the caller's: each byte is written once, through crypto/copyout.h. */
void ks_p11_pad(CK_UTF8CHAR *field, size_t len, const char *s);

/* ks_p11_version parses "major.minor[.patch]" into v (written once, as ks_p11_pad). */
void ks_p11_version(CK_VERSION *v, const char *s);

#endif
