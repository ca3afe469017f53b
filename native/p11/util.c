/* util.c - small helpers of the front. */
#include "p11/util.h"

#include <stdlib.h>
#include <string.h>

void ks_p11_pad(CK_UTF8CHAR *field, size_t len, const char *s)
{
    memset(field, ' ', len);
    size_t n = strlen(s);
    memcpy(field, s, n < len ? n : len);
}

void ks_p11_version(CK_VERSION *v, const char *s)
{
    char *end = NULL;
    v->major = (CK_BYTE)strtoul(s, &end, 10);
    v->minor = (end != NULL && *end == '.') ? (CK_BYTE)strtoul(end + 1, NULL, 10) : 0;
}
