/* config.c - reading KEYSTEAD_CONF (see config.h for the keys).
 *
 * The grammar is deliberately small: one `key = value` per line, whitespace around key and
 * value ignored, a line whose first non-blank character is '#' is a comment, and so is the rest
 * of a line from a '#' that follows a space or tab (`wrap_policy = compat   # why`); a '#'
 * inside a word is part of the value (`token_dir = /srv/a#b`). Blank lines are skipped. Every
 * problem is
 * reported once, as "FILE:LINE: problem", and stops the load: a half-read configuration must
 * never start a token with defaults the administrator did not choose. */
#include "token/config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

#define KS_CONF_MAX_LINE 4096

/* One parsed line's context, for error messages. */
typedef struct conf_pos {
    const char *file;
    unsigned line;
    char *err;
    size_t err_len;
} conf_pos;

static CK_RV conf_fail(const conf_pos *pos, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static CK_RV conf_fail(const conf_pos *pos, const char *fmt, ...)
{
    if (pos->err != NULL && pos->err_len > 0) {
        char msg[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        if (pos->line > 0) {
            snprintf(pos->err, pos->err_len, "%s:%u: %s", pos->file, pos->line, msg);
        } else {
            snprintf(pos->err, pos->err_len, "%s: %s", pos->file, msg);
        }
    }
    return CKR_FUNCTION_FAILED;
}

static int copy_str(char *out, size_t max_out, const char *in)
{
    size_t n = strlen(in);
    if (n >= max_out) {
        return 0;
    }
    memcpy(out, in, n + 1);
    return 1;
}

/* mkdir -p with mode 0700 for every component we create (existing ones are left alone). */
static int make_dirs(const char *path)
{
    char buf[PATH_MAX];
    if (!copy_str(buf, sizeof(buf), path)) {
        return ENAMETOOLONG;
    }
    for (char *p = buf + 1; *p != '\0'; p++) {
        if (*p != '/') {
            continue;
        }
        *p = '\0';
        if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
            return errno;
        }
        *p = '/';
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST) {
        return errno;
    }
    struct stat st;
    if (stat(buf, &st) != 0) {
        return errno;
    }
    if (!S_ISDIR(st.st_mode)) {
        return ENOTDIR;
    }
    return 0;
}

static void set_defaults(ks_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->log_level = KS_LOG_ERROR;
    cfg->pin_kdf = KS_PIN_KDF_SCRYPT;
    cfg->pin_kdf_cost = KS_KDF_COST_DEFAULT;
    cfg->max_pin_attempts = 10;
    cfg->wrap_policy = KS_WRAP_POLICY_STRICT;
    cfg->kwp_alias_softhsm = 0;
    cfg->audit_mode = KS_AUDIT_COUNTS;
    cfg->rsa_implicit_rejection = 1;
    cfg->legacy_mechanisms = 0;
}

/* The per-user default: $XDG_DATA_HOME/keystead/tokens, else $HOME/.local/share/... */
static int default_token_dir(char *out, size_t max_out)
{
    const char *xdg = getenv("XDG_DATA_HOME");
    int n;
    /* XDG Base Directory spec: a relative XDG_DATA_HOME is invalid and must be ignored. */
    if (xdg != NULL && xdg[0] == '/') {
        n = snprintf(out, max_out, "%s/keystead/tokens", xdg);
    } else {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0') {
            return 0;
        }
        n = snprintf(out, max_out, "%s/.local/share/keystead/tokens", home);
    }
    return n > 0 && (size_t)n < max_out;
}

/* An enumerated value: index into names, or -1. */
static int pick(const char *value, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(value, names[i]) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static CK_RV bad_choice(const conf_pos *pos, const char *key, const char *value,
                        const char *const *names, size_t count)
{
    char list[160] = "";
    size_t used = 0;
    for (size_t i = 0; i < count; i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? "|" : "", names[i]);
        if (n < 0 || (size_t)n >= sizeof(list) - used) {
            break;
        }
        used += (size_t)n;
    }
    return conf_fail(pos, "bad value '%s' for %s (expected %s)", value, key, list);
}

/* A path value: "~/" expands to $HOME; a relative path is taken relative to the directory
 * of the configuration file, so that a configuration can travel with its tokens. */
static CK_RV set_path(const conf_pos *pos, const char *key, const char *value, char *out,
                      size_t max_out)
{
    int n;
    if (value[0] == '~' && value[1] == '/') {
        const char *home = getenv("HOME");
        if (home == NULL || home[0] == '\0') {
            return conf_fail(pos, "bad value '%s' for %s (HOME is not set)", value, key);
        }
        n = snprintf(out, max_out, "%s%s", home, value + 1);
    } else if (value[0] == '/') {
        n = snprintf(out, max_out, "%s", value);
    } else {
        const char *slash = strrchr(pos->file, '/');
        if (slash == NULL) {
            n = snprintf(out, max_out, "%s", value);
        } else {
            n = snprintf(out, max_out, "%.*s/%s", (int)(slash - pos->file), pos->file, value);
        }
    }
    if (n < 0 || (size_t)n >= max_out) {
        return conf_fail(pos, "bad value for %s (path longer than %zu bytes)", key, max_out - 1);
    }
    return CKR_OK;
}

static const char *const KEYS[] = {
    "token_dir", "log_file", "log_level", "pin_kdf", "pin_kdf_cost",
    "max_pin_attempts", "wrap_policy", "kwp_alias", "audit_mode",
    "audit_failure", "rsa_implicit_rejection", "legacy_mechanisms",
};
#define N_KEYS (sizeof(KEYS) / sizeof(KEYS[0]))

static const char *const LOG_LEVELS[] = {"off", "error", "info", "debug"};
static const char *const KDFS[] = {"scrypt", "pbkdf2"};
static const char *const COSTS[] = {"default", "fast"};
static const char *const POLICIES[] = {"strict", "compat"};
static const char *const ALIASES[] = {"none", "softhsm"};
static const char *const AUDIT[] = {"counts", "per-op"};
static const char *const AUDIT_FAILURE[] = {"refuse", "log"};
static const char *const ON_OFF[] = {"off", "on"};
#define CHOICE(names) names, (sizeof(names) / sizeof(names[0]))

static CK_RV parse_uint(const conf_pos *pos, const char *key, const char *value,
                        unsigned lo, unsigned hi, unsigned *out)
{
    char *end = NULL;
    if (value[0] < '0' || value[0] > '9') {
        return conf_fail(pos, "bad value '%s' for %s (expected %u..%u)", value, key, lo, hi);
    }
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) {
        return conf_fail(pos, "bad value '%s' for %s (expected %u..%u)", value, key, lo, hi);
    }
    *out = (unsigned)v;
    return CKR_OK;
}

/* Apply one key; key is known to be one of KEYS (index k). */
static CK_RV apply(ks_config *cfg, const conf_pos *pos, size_t k, const char *value)
{
    const char *key = KEYS[k];
    int v;
    if (value[0] == '\0' && k != 1) {
        return conf_fail(pos, "empty value for %s", key);
    }
    switch (k) {
    case 0: /* token_dir */
        if (strcmp(value, ":memory:") == 0) {
            cfg->in_memory = 1;
            cfg->token_dir[0] = '\0';
            return CKR_OK;
        }
        cfg->in_memory = 0;
        return set_path(pos, key, value, cfg->token_dir, sizeof(cfg->token_dir));
    case 1: /* log_file: empty means no log */
        if (value[0] == '\0') {
            cfg->log_file[0] = '\0';
            return CKR_OK;
        }
        return set_path(pos, key, value, cfg->log_file, sizeof(cfg->log_file));
    case 2:
        if ((v = pick(value, CHOICE(LOG_LEVELS))) < 0) {
            return bad_choice(pos, key, value, CHOICE(LOG_LEVELS));
        }
        cfg->log_level = (ks_log_level)v;
        return CKR_OK;
    case 3:
        if ((v = pick(value, CHOICE(KDFS))) < 0) {
            return bad_choice(pos, key, value, CHOICE(KDFS));
        }
        cfg->pin_kdf = (ks_pin_kdf)v;
        return CKR_OK;
    case 4:
        if ((v = pick(value, CHOICE(COSTS))) < 0) {
            return bad_choice(pos, key, value, CHOICE(COSTS));
        }
        cfg->pin_kdf_cost = (ks_kdf_cost)v;
        return CKR_OK;
    case 5:
        return parse_uint(pos, key, value, 1, 100, &cfg->max_pin_attempts);
    case 6:
        if ((v = pick(value, CHOICE(POLICIES))) < 0) {
            return bad_choice(pos, key, value, CHOICE(POLICIES));
        }
        cfg->wrap_policy = (ks_wrap_policy)v;
        return CKR_OK;
    case 7:
        if ((v = pick(value, CHOICE(ALIASES))) < 0) {
            return bad_choice(pos, key, value, CHOICE(ALIASES));
        }
        cfg->kwp_alias_softhsm = v;
        return CKR_OK;
    case 8:
        if ((v = pick(value, CHOICE(AUDIT))) < 0) {
            return bad_choice(pos, key, value, CHOICE(AUDIT));
        }
        cfg->audit_mode = (ks_audit_mode)v;
        return CKR_OK;
    case 9: /* audit_failure */
        if ((v = pick(value, CHOICE(AUDIT_FAILURE))) < 0) {
            return bad_choice(pos, key, value, CHOICE(AUDIT_FAILURE));
        }
        cfg->audit_failure_log = v;
        return CKR_OK;
    case 10: /* rsa_implicit_rejection */
        if ((v = pick(value, CHOICE(ON_OFF))) < 0) {
            return bad_choice(pos, key, value, CHOICE(ON_OFF));
        }
        cfg->rsa_implicit_rejection = v;
        return CKR_OK;
    default: /* 11: legacy_mechanisms */
        if ((v = pick(value, CHOICE(ON_OFF))) < 0) {
            return bad_choice(pos, key, value, CHOICE(ON_OFF));
        }
        cfg->legacy_mechanisms = v;
        return CKR_OK;
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t') {
        s++;
    }
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' ||
                     s[n - 1] == '\n')) {
        s[--n] = '\0';
    }
    return s;
}

static CK_RV unknown_key(const conf_pos *pos, const char *key)
{
    char list[256] = "";
    size_t used = 0;
    for (size_t i = 0; i < N_KEYS; i++) {
        int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "", KEYS[i]);
        if (n < 0 || (size_t)n >= sizeof(list) - used) {
            break;
        }
        used += (size_t)n;
    }
    return conf_fail(pos, "unknown key '%s' (expected %s)", key, list);
}

/* Cut a trailing comment: the rest of the line from a '#' after a space or tab. */
static void cut_comment(char *s)
{
    for (size_t i = 1; s[i] != '\0'; i++) {
        if (s[i] == '#' && (s[i - 1] == ' ' || s[i - 1] == '\t')) {
            s[i] = '\0';
            return;
        }
    }
}

/* Parse one line (already without its newline); seen[] marks keys given so far. */
static CK_RV parse_line(ks_config *cfg, conf_pos *pos, char *line, unsigned seen[N_KEYS])
{
    char *s = trim(line);
    if (s[0] != '\0') {
        cut_comment(s);
        s = trim(s);
    }
    if (s[0] == '\0' || s[0] == '#') {
        return CKR_OK;
    }
    char *eq = strchr(s, '=');
    if (eq == NULL) {
        return conf_fail(pos, "missing '=' (expected `key = value`)");
    }
    *eq = '\0';
    char *key = trim(s);
    char *value = trim(eq + 1);
    if (key[0] == '\0') {
        return conf_fail(pos, "missing key before '='");
    }
    size_t k = 0;
    while (k < N_KEYS && strcmp(key, KEYS[k]) != 0) {
        k++;
    }
    if (k == N_KEYS) {
        return unknown_key(pos, key);
    }
    if (seen[k] != 0) {
        return conf_fail(pos, "duplicate key '%s' (first set on line %u)", key, seen[k]);
    }
    seen[k] = pos->line;
    return apply(cfg, pos, k, value);
}

static CK_RV parse_file(ks_config *cfg, FILE *f, conf_pos *pos, unsigned seen[N_KEYS])
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    CK_RV rv = CKR_OK;
    pos->line = 0;
    errno = 0;
    while (rv == CKR_OK && (n = getline(&line, &cap, f)) >= 0) {
        pos->line++;
        size_t len = (size_t)n;
        if (len > 0 && line[len - 1] == '\n') {
            len--;
        }
        if (len > KS_CONF_MAX_LINE) {
            rv = conf_fail(pos, "line longer than %d bytes", KS_CONF_MAX_LINE);
        } else if (memchr(line, '\0', len) != NULL) {
            rv = conf_fail(pos, "NUL byte in line");
        } else {
            rv = parse_line(cfg, pos, line, seen);
        }
    }
    if (rv == CKR_OK && ferror(f)) {
        int e = errno;
        pos->line = 0;
        rv = conf_fail(pos, "cannot read: %s", strerror(e));
    }
    free(line);
    return rv;
}

static CK_RV read_conf(ks_config *cfg, const char *path, unsigned seen[N_KEYS], char *err,
                       size_t err_len)
{
    conf_pos pos = {path, 0, err, err_len};
    if (!copy_str(cfg->source, sizeof(cfg->source), path)) {
        return conf_fail(&pos, "path too long");
    }
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        int e = errno;
        if (e == ENOENT) {
            return conf_fail(&pos, "missing file (named by KEYSTEAD_CONF): %s", strerror(e));
        }
        return conf_fail(&pos, "unreadable file: %s", strerror(e));
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return conf_fail(&pos, "unreadable file: is a directory");
    }
    CK_RV rv = parse_file(cfg, f, &pos, seen);
    fclose(f);
    return rv;
}

CK_RV ks_config_parse(ks_config *cfg, const char *name, const char *text, size_t len,
                      char *err, size_t err_len)
{
    unsigned seen[N_KEYS] = {0};
    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }
    if (cfg == NULL || name == NULL || (text == NULL && len > 0)) {
        return CKR_ARGUMENTS_BAD;
    }
    set_defaults(cfg);
    conf_pos pos = {name, 0, err, err_len};
    if (!copy_str(cfg->source, sizeof(cfg->source), name)) {
        return conf_fail(&pos, "path too long");
    }
    if (len == 0) {
        return CKR_OK;
    }
    FILE *f = fmemopen((void *)(uintptr_t)text, len, "r");
    if (f == NULL) {
        return CKR_HOST_MEMORY;
    }
    CK_RV rv = parse_file(cfg, f, &pos, seen);
    fclose(f);
    return rv;
}

CK_RV ks_config_load(ks_config *cfg, char *err, size_t err_len)
{
    unsigned seen[N_KEYS] = {0};
    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }
    if (cfg == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    set_defaults(cfg);
    const char *path = getenv("KEYSTEAD_CONF");
    if (path != NULL && path[0] != '\0') {
        CK_RV rv = read_conf(cfg, path, seen, err, err_len);
        if (rv != CKR_OK) {
            return rv;
        }
    }
    if (cfg->in_memory) {
        return CKR_OK;
    }
    conf_pos pos = {cfg->source[0] ? cfg->source : "keystead", seen[0], err, err_len};
    if (cfg->token_dir[0] == '\0' && !default_token_dir(cfg->token_dir, sizeof(cfg->token_dir))) {
        return conf_fail(&pos, "no token_dir and neither XDG_DATA_HOME nor HOME is set");
    }
    int e = make_dirs(cfg->token_dir);
    if (e != 0) {
        return conf_fail(&pos, "token_dir '%s': cannot create: %s", cfg->token_dir,
                         strerror(e));
    }
    return CKR_OK;
}
