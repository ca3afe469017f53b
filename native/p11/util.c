/* util.c - small helpers of the front. */
#include "p11/util.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/copyout.h"

void ks_p11_pad(CK_UTF8CHAR *field, size_t len, const char *s)
{
    size_t n = strlen(s);
    n = n < len ? n : len;
    ks_copy_out(field, s, n);
    ks_copy_out_fill(field + n, ' ', len - n);
}

void ks_p11_version(CK_VERSION *v, const char *s)
{
    char *end = NULL;
    CK_VERSION out;
    out.major = (CK_BYTE)strtoul(s, &end, 10);
    out.minor = (end != NULL && *end == '.') ? (CK_BYTE)strtoul(end + 1, NULL, 10) : 0;
    ks_copy_out(v, &out, sizeof(out));
}
