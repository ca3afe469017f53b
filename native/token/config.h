/* config.h - the module's configuration: KEYSTEAD_CONF names a file of `key = value` lines.
 *
 * Keys (each at most once; any other key is an error):
 *   token_dir         a directory (created with mode 0700), or ":memory:" for ephemeral
 *                     tokens that live as long as the process
 *   log_file          the JSON call log (see log.h); empty or absent: no log
 *   log_level         off|error|info|debug (default error: refused calls only)
 *   pin_kdf           scrypt|pbkdf2 (default scrypt)
 *   pin_kdf_cost      default|fast (fast is for test suites only: see token/pin.c)
 *   max_pin_attempts  1..100 (default 10)
 *   wrap_policy       strict|compat (default strict)
 *   kwp_alias         none|softhsm (default none)
 *   audit_mode        counts|per-op (default counts)
 *   audit_failure     refuse|log (default refuse): an operation whose audit record cannot
 *                     be written is refused with CKR_DEVICE_ERROR, or (log) goes ahead
 *                     unrecorded with an error in the log
 *   rsa_implicit_rejection  on|off (default on): CKM_RSA_PKCS decryption answers a padding
 *                     failure with the synthetic message of implicit rejection (README,
 *                     "RSA encryption"); off: CKR_ENCRYPTED_DATA_INVALID
 *   legacy_mechanisms on|off (default off): offer the legacy mechanisms (DES3, MD5, RSA-1024
 *                     keys) that SP 800-131A disallows for new protection; off, they are
 *                     absent from C_GetMechanismList and CKR_MECHANISM_INVALID
 * Whitespace around keys and values is ignored; a line whose first non-blank character is
 * '#' is a comment, and so is the rest of a line from a '#' after a space or tab (a '#'
 * inside a word, as in a path /a#b, belongs to the value); blank lines are skipped; lines
 * are at most 4096 bytes. In paths "~/" means $HOME and a relative path is relative to the
 * configuration file's directory. Without KEYSTEAD_CONF (or with it empty), tokens live in
 * $XDG_DATA_HOME/keystead/tokens, or ~/.local/share/keystead/tokens. */
#ifndef KS_TOKEN_CONFIG_H
#define KS_TOKEN_CONFIG_H

#include <limits.h>
#include <stddef.h>

#include "pkcs11.h"

typedef enum ks_log_level { KS_LOG_OFF = 0, KS_LOG_ERROR, KS_LOG_INFO, KS_LOG_DEBUG } ks_log_level;
typedef enum ks_pin_kdf { KS_PIN_KDF_SCRYPT = 0, KS_PIN_KDF_PBKDF2 } ks_pin_kdf;
typedef enum ks_kdf_cost { KS_KDF_COST_DEFAULT = 0, KS_KDF_COST_FAST } ks_kdf_cost;
typedef enum ks_wrap_policy { KS_WRAP_POLICY_STRICT = 0, KS_WRAP_POLICY_COMPAT } ks_wrap_policy;
typedef enum ks_audit_mode { KS_AUDIT_COUNTS = 0, KS_AUDIT_PER_OP } ks_audit_mode;

typedef struct ks_config {
    char token_dir[PATH_MAX]; /* empty when in_memory */
    int in_memory;
    char log_file[PATH_MAX]; /* empty: no log */
    ks_log_level log_level;
    ks_pin_kdf pin_kdf;
    ks_kdf_cost pin_kdf_cost;
    unsigned max_pin_attempts;
    ks_wrap_policy wrap_policy;
    int kwp_alias_softhsm;
    ks_audit_mode audit_mode;
    int audit_failure_log; /* audit_failure = log */
    int rsa_implicit_rejection; /* rsa_implicit_rejection = on (the default) */
    int legacy_mechanisms; /* legacy_mechanisms = on */
    char source[PATH_MAX]; /* the file read, or empty for defaults */
} ks_config;

/* ks_config_load fills cfg from KEYSTEAD_CONF or the defaults and creates token_dir if needed.
 * On failure returns CKR_FUNCTION_FAILED and writes into err a one-line message naming the
 * file, the line number and the problem, e.g.
 * "/etc/ks.conf:3: unknown key 'tokendir' (expected token_dir, log_file, ...)". */
CK_RV ks_config_load(ks_config *cfg, char *err, size_t err_len);

/* ks_config_parse parses len bytes of text as the configuration file `name` (relative paths
 * resolve against name's directory) into cfg, without reading the environment or creating
 * token_dir: for tests and the configuration fuzzer. Errors as ks_config_load. */
CK_RV ks_config_parse(ks_config *cfg, const char *name, const char *text, size_t len,
                      char *err, size_t err_len);

#endif
