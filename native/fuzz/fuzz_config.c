/* fuzz_config.c - libFuzzer target: the configuration file parser (token/config.c).
 *
 * The input is the text of a KEYSTEAD_CONF file, given to ks_config_parse under a name whose
 * directory relative paths resolve against (long, short or root, chosen by the input's
 * length so that no byte of the text is spent on it). Properties besides memory safety: the
 * result is CKR_OK or CKR_FUNCTION_FAILED; on failure the message is a NUL-terminated line
 * within the buffer; on success every path is NUL-terminated within its array and the enums
 * are in range. */
#include <stdio.h>

#include "fuzz_common.h"
#include "token/config.h"

static void check_str(const char *s, size_t max, const char *what)
{
    if (memchr(s, 0, max) == NULL) {
        fprintf(stderr, "%s is not NUL-terminated\n", what);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char long_name[PATH_MAX];
    if (long_name[0] == 0) {
        memset(long_name, 'd', sizeof(long_name) - 16);
        long_name[0] = '/';
        memcpy(long_name + sizeof(long_name) - 16, "/keystead.conf", 15);
    }
    static const char *const NAMES[] = {"/etc/keystead/keystead.conf", "k.conf", "/k", ""};
    const char *name = size % 5 == 4 ? long_name : NAMES[size % 4];
    char *text = malloc(size ? size : 1); /* exact size: no NUL after the text */
    if (text == NULL) {
        abort();
    }
    if (size) {
        memcpy(text, data, size);
    }
    ks_config cfg;
    memset(&cfg, 0xa5, sizeof(cfg));
    char err[96];
    memset(err, 0xa5, sizeof(err));
    CK_RV rv = ks_config_parse(&cfg, name, text, size, err, size % 3 ? sizeof(err) : 1);
    if (rv == CKR_OK) {
        check_str(cfg.token_dir, sizeof(cfg.token_dir), "token_dir");
        check_str(cfg.log_file, sizeof(cfg.log_file), "log_file");
        check_str(cfg.source, sizeof(cfg.source), "source");
        if ((unsigned)cfg.log_level > KS_LOG_DEBUG || (unsigned)cfg.pin_kdf > 1 ||
            (unsigned)cfg.pin_kdf_cost > 1 || (unsigned)cfg.wrap_policy > 1 ||
            (unsigned)cfg.audit_mode > 1 || cfg.max_pin_attempts < 1 ||
            cfg.max_pin_attempts > 100) {
            fprintf(stderr, "a parsed value is out of range\n");
            abort();
        }
    } else if (rv == CKR_FUNCTION_FAILED) {
        check_str(err, size % 3 ? sizeof(err) : 1, "the error message");
    } else {
        fprintf(stderr, "ks_config_parse returned 0x%lx\n", rv);
        abort();
    }
    free(text);
    return 0;
}
