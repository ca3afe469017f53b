/* copyout.c - the one door to caller memory (see copyout.h). */
#include "crypto/copyout.h"

#include <stdint.h>
#include <string.h>

#include "crypto/mem.h"

#ifdef KS_COPYOUT_CHECK
#include <stdio.h>
#include <stdlib.h>

/* The ranges this thread wrote in its current call. A call that writes more ranges than
 * this (the bulk functions write per message) keeps checking against the most recent ones. */
#define RANGES 4096

typedef struct range {
    uintptr_t lo, hi;
} range;

static _Thread_local range written[RANGES];
static _Thread_local size_t nwritten;

static void check_once(const void *dst, size_t len)
{
    uintptr_t lo = (uintptr_t)dst;
    uintptr_t hi = lo + len;
    size_t n = nwritten < RANGES ? nwritten : RANGES;
    for (size_t i = 0; i < n; i++) {
        if (lo < written[i].hi && written[i].lo < hi) {
            fprintf(stderr, "keystead: KS_COPYOUT_CHECK: caller byte %p written twice\n",
                    (void *)(lo > written[i].lo ? lo : written[i].lo));
            abort();
        }
    }
    written[nwritten % RANGES] = (range){lo, hi};
    nwritten++;
}

void ks_copy_out_call_end(void)
{
    nwritten = 0;
}
#else
static void check_once(const void *dst, size_t len)
{
    (void)dst;
    (void)len;
}

void ks_copy_out_call_end(void)
{
}
#endif

void ks_copy_out(void *dst, const void *src, size_t len)
{
    if (len == 0) {
        return;
    }
    check_once(dst, len);
    memcpy(dst, src, len);
}

void ks_copy_out_fill(void *dst, int byte, size_t len)
{
    if (len == 0) {
        return;
    }
    check_once(dst, len);
    memset(dst, byte, len);
}

void ks_copy_out_retract(void *dst, size_t len)
{
    if (len == 0) {
        return;
    }
    /* Not check_once: these bytes were written by this call, and are overwritten on purpose. */
    memset(dst, 0, len);
}

ks_status ks_copy_out_produce(void *dst, size_t len, ks_copy_out_fn fn, void *arg)
{
    if (len == 0) {
        return KS_OK;
    }
#ifdef KS_COPYOUT_CHECK
    /* The producer writes module memory; the caller's bytes are written once, at the end. */
    uint8_t *work = malloc(len);
    if (work == NULL) {
        return KS_ERR_NOMEM;
    }
    ks_status st = fn(arg, work, len);
    if (st == KS_OK) {
        ks_copy_out(dst, work, len);
    }
    ks_wipe(work, len);
    free(work);
    return st;
#else
    return fn(arg, dst, len);
#endif
}
