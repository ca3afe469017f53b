/* log.c - the JSON call log (see log.h) and the names of return codes.
 *
 * One line per call, written with a single write(2) on a descriptor opened O_APPEND, so that
 * lines of several threads and processes never interleave (POSIX: appends of one write are
 * atomic for regular files). Only codes, handles and static reasons are logged: never a key,
 * a PIN or data. */
#include "token/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;           /* guarded by log_lock */
static ks_log_level log_level;    /* guarded by log_lock */

/* A forked child may inherit log_lock held by a parent thread that does not exist there, and
 * its every call (even the refused ones, before its C_Initialize) logs: it starts with a
 * fresh lock. The descriptor is shared with the parent (O_APPEND: whole lines). */
static void log_fork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    log_lock = fresh;
}

__attribute__((constructor)) static void log_watch_forks(void)
{
    (void)pthread_atfork(NULL, NULL, log_fork_child);
}

CK_RV ks_log_open(const ks_config *cfg)
{
    CK_RV rv = CKR_OK;
    pthread_mutex_lock(&log_lock);
    if (log_fd >= 0) {
        close(log_fd);
    }
    log_fd = -1;
    log_level = KS_LOG_OFF;
    if (cfg != NULL && cfg->log_file[0] != '\0' && cfg->log_level != KS_LOG_OFF) {
        log_fd = open(cfg->log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (log_fd < 0) {
            rv = CKR_FUNCTION_FAILED;
        } else {
            log_level = cfg->log_level;
        }
    }
    pthread_mutex_unlock(&log_lock);
    return rv;
}

void ks_log_close(void)
{
    pthread_mutex_lock(&log_lock);
    if (log_fd >= 0) {
        close(log_fd);
    }
    log_fd = -1;
    log_level = KS_LOG_OFF;
    pthread_mutex_unlock(&log_lock);
}

/* A growing line buffer; output that does not fit is cut, never overflowed. */
typedef struct line_buf {
    char data[2048];
    size_t len;
} line_buf;

static void put_raw(line_buf *b, const char *s, size_t n)
{
    size_t room = sizeof(b->data) - 2 - b->len; /* keep space for "}\n" */
    if (n > room) {
        n = room;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

static void put_fmt(line_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put_fmt(line_buf *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    if (n > 0) {
        put_raw(b, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
    }
}

/* A JSON string (RFC 8259 section 7): quotes, backslashes and control characters escaped. */
static void put_json_str(line_buf *b, const char *s)
{
    put_raw(b, "\"", 1);
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            put_raw(b, esc, 2);
        } else if (c < 0x20) {
            put_fmt(b, "\\u%04x", c);
        } else {
            put_raw(b, (const char *)&c, 1);
        }
    }
    put_raw(b, "\"", 1);
}

static void put_head(line_buf *b)
{
    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    put_fmt(b, "{\"time\":\"%s.%03ldZ\",\"pid\":%ld", when, ts.tv_nsec / 1000000L,
            (long)getpid());
}

static void emit(line_buf *b)
{
    b->data[b->len++] = '}';
    b->data[b->len++] = '\n';
    /* Called with log_lock held. A short or failed write is not retried: the log must never
     * block or fail a PKCS#11 call. */
    ssize_t w = write(log_fd, b->data, b->len);
    (void)w;
}

#define NOT_APPLICABLE ((CK_ULONG)-1)

void ks_log_call(const char *fn, CK_SESSION_HANDLE session, CK_MECHANISM_TYPE mechanism,
                 CK_RV rv, CK_ATTRIBUTE_TYPE attr, const char *why)
{
    pthread_mutex_lock(&log_lock);
    if (log_fd < 0 || log_level == KS_LOG_OFF ||
        (rv == CKR_OK && log_level < KS_LOG_INFO)) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    line_buf b = {.len = 0};
    put_head(&b);
    put_raw(&b, ",\"fn\":", 6);
    put_json_str(&b, fn);
    if (session != NOT_APPLICABLE) {
        put_fmt(&b, ",\"session\":%lu", (unsigned long)session);
    }
    if (mechanism != NOT_APPLICABLE) {
        put_fmt(&b, ",\"mechanism\":\"0x%08lx\"", (unsigned long)mechanism);
    }
    put_raw(&b, ",\"rv\":", 6);
    put_json_str(&b, ks_rv_name(rv));
    if (attr != NOT_APPLICABLE) {
        put_fmt(&b, ",\"attr\":\"0x%08lx\"", (unsigned long)attr);
    }
    if (why != NULL) {
        put_raw(&b, ",\"why\":", 7);
        put_json_str(&b, why);
    }
    emit(&b);
    pthread_mutex_unlock(&log_lock);
}

static const char *const LEVEL_NAMES[] = {"off", "error", "info", "debug"};

void ks_log_message(ks_log_level level, const char *msg)
{
    pthread_mutex_lock(&log_lock);
    if (log_fd < 0 || level == KS_LOG_OFF || level > log_level) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    line_buf b = {.len = 0};
    put_head(&b);
    put_fmt(&b, ",\"level\":\"%s\",\"msg\":", LEVEL_NAMES[level]);
    put_json_str(&b, msg);
    emit(&b);
    pthread_mutex_unlock(&log_lock);
}

/* Every CKR_ code of PKCS#11 3.0 (pkcs11.h). */
typedef struct rv_entry {
    CK_RV rv;
    const char *name;
} rv_entry;

#define RV(x) {x, #x}
static const rv_entry RV_NAMES[] = {
    RV(CKR_OK),
    RV(CKR_CANCEL),
    RV(CKR_HOST_MEMORY),
    RV(CKR_SLOT_ID_INVALID),
    RV(CKR_GENERAL_ERROR),
    RV(CKR_FUNCTION_FAILED),
    RV(CKR_ARGUMENTS_BAD),
    RV(CKR_NO_EVENT),
    RV(CKR_NEED_TO_CREATE_THREADS),
    RV(CKR_CANT_LOCK),
    RV(CKR_ATTRIBUTE_READ_ONLY),
    RV(CKR_ATTRIBUTE_SENSITIVE),
    RV(CKR_ATTRIBUTE_TYPE_INVALID),
    RV(CKR_ATTRIBUTE_VALUE_INVALID),
    RV(CKR_ACTION_PROHIBITED),
    RV(CKR_DATA_INVALID),
    RV(CKR_DATA_LEN_RANGE),
    RV(CKR_DEVICE_ERROR),
    RV(CKR_DEVICE_MEMORY),
    RV(CKR_DEVICE_REMOVED),
    RV(CKR_ENCRYPTED_DATA_INVALID),
    RV(CKR_ENCRYPTED_DATA_LEN_RANGE),
    RV(CKR_AEAD_DECRYPT_FAILED),
    RV(CKR_FUNCTION_CANCELED),
    RV(CKR_FUNCTION_NOT_PARALLEL),
    RV(CKR_FUNCTION_NOT_SUPPORTED),
    RV(CKR_KEY_HANDLE_INVALID),
    RV(CKR_KEY_SIZE_RANGE),
    RV(CKR_KEY_TYPE_INCONSISTENT),
    RV(CKR_KEY_NOT_NEEDED),
    RV(CKR_KEY_CHANGED),
    RV(CKR_KEY_NEEDED),
    RV(CKR_KEY_INDIGESTIBLE),
    RV(CKR_KEY_FUNCTION_NOT_PERMITTED),
    RV(CKR_KEY_NOT_WRAPPABLE),
    RV(CKR_KEY_UNEXTRACTABLE),
    RV(CKR_MECHANISM_INVALID),
    RV(CKR_MECHANISM_PARAM_INVALID),
    RV(CKR_OBJECT_HANDLE_INVALID),
    RV(CKR_OPERATION_ACTIVE),
    RV(CKR_OPERATION_NOT_INITIALIZED),
    RV(CKR_PIN_INCORRECT),
    RV(CKR_PIN_INVALID),
    RV(CKR_PIN_LEN_RANGE),
    RV(CKR_PIN_EXPIRED),
    RV(CKR_PIN_LOCKED),
    RV(CKR_SESSION_CLOSED),
    RV(CKR_SESSION_COUNT),
    RV(CKR_SESSION_HANDLE_INVALID),
    RV(CKR_SESSION_PARALLEL_NOT_SUPPORTED),
    RV(CKR_SESSION_READ_ONLY),
    RV(CKR_SESSION_EXISTS),
    RV(CKR_SESSION_READ_ONLY_EXISTS),
    RV(CKR_SESSION_READ_WRITE_SO_EXISTS),
    RV(CKR_SIGNATURE_INVALID),
    RV(CKR_SIGNATURE_LEN_RANGE),
    RV(CKR_TEMPLATE_INCOMPLETE),
    RV(CKR_TEMPLATE_INCONSISTENT),
    RV(CKR_TOKEN_NOT_PRESENT),
    RV(CKR_TOKEN_NOT_RECOGNIZED),
    RV(CKR_TOKEN_WRITE_PROTECTED),
    RV(CKR_UNWRAPPING_KEY_HANDLE_INVALID),
    RV(CKR_UNWRAPPING_KEY_SIZE_RANGE),
    RV(CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT),
    RV(CKR_USER_ALREADY_LOGGED_IN),
    RV(CKR_USER_NOT_LOGGED_IN),
    RV(CKR_USER_PIN_NOT_INITIALIZED),
    RV(CKR_USER_TYPE_INVALID),
    RV(CKR_USER_ANOTHER_ALREADY_LOGGED_IN),
    RV(CKR_USER_TOO_MANY_TYPES),
    RV(CKR_WRAPPED_KEY_INVALID),
    RV(CKR_WRAPPED_KEY_LEN_RANGE),
    RV(CKR_WRAPPING_KEY_HANDLE_INVALID),
    RV(CKR_WRAPPING_KEY_SIZE_RANGE),
    RV(CKR_WRAPPING_KEY_TYPE_INCONSISTENT),
    RV(CKR_RANDOM_SEED_NOT_SUPPORTED),
    RV(CKR_RANDOM_NO_RNG),
    RV(CKR_DOMAIN_PARAMS_INVALID),
    RV(CKR_CURVE_NOT_SUPPORTED),
    RV(CKR_BUFFER_TOO_SMALL),
    RV(CKR_SAVED_STATE_INVALID),
    RV(CKR_INFORMATION_SENSITIVE),
    RV(CKR_STATE_UNSAVEABLE),
    RV(CKR_CRYPTOKI_NOT_INITIALIZED),
    RV(CKR_CRYPTOKI_ALREADY_INITIALIZED),
    RV(CKR_MUTEX_BAD),
    RV(CKR_MUTEX_NOT_LOCKED),
    RV(CKR_NEW_PIN_MODE),
    RV(CKR_NEXT_OTP),
    RV(CKR_EXCEEDED_MAX_ITERATIONS),
    RV(CKR_FIPS_SELF_TEST_FAILED),
    RV(CKR_LIBRARY_LOAD_FAILED),
    RV(CKR_PIN_TOO_WEAK),
    RV(CKR_PUBLIC_KEY_INVALID),
    RV(CKR_FUNCTION_REJECTED),
    RV(CKR_TOKEN_RESOURCE_EXCEEDED),
    RV(CKR_OPERATION_CANCEL_FAILED),
};

const char *ks_rv_name(CK_RV rv)
{
    for (size_t i = 0; i < sizeof(RV_NAMES) / sizeof(RV_NAMES[0]); i++) {
        if (RV_NAMES[i].rv == rv) {
            return RV_NAMES[i].name;
        }
    }
    if (rv >= CKR_VENDOR_DEFINED) {
        static _Thread_local char buf[48];
        snprintf(buf, sizeof(buf), "CKR_VENDOR_DEFINED+0x%lx",
                 (unsigned long)(rv - CKR_VENDOR_DEFINED));
        return buf;
    }
    return "unknown";
}
