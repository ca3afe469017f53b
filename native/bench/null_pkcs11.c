/* null_pkcs11.c - a PKCS#11 module that does nothing, at once: the floor of a client's own
 * cost. Every call python-pkcs11 makes to open a session, generate, wrap and unwrap a key
 * succeeds without work (keys are handles from a counter, every wrapped key is 40 zero bytes,
 * attributes describe an AES secret key that may encrypt, decrypt, wrap and unwrap); every
 * other function returns CKR_FUNCTION_NOT_SUPPORTED. Not a token: a measuring stick for
 * docs/bench.md ("KW unwrap: the client sets the floor").
 *
 *   gcc -O2 -shared -fPIC -fvisibility=hidden -Wall -Wextra -Werror -I native/include \
 *       -o /tmp/null_pkcs11.so native/bench/null_pkcs11.c
 *   python native/bench/null_client.py /tmp/null_pkcs11.so
 */
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

#include "pkcs11.h"

#define NULL_EXPORT __attribute__((visibility("default")))

/* Called through the function list with whatever arguments its slot declares: harmless on
 * the x86-64 SysV ABI (the callee reads none), which is the only one this tool is for. */
static CK_RV not_supported(void)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

static CK_RV init_or_finalize(CK_VOID_PTR args)
{
    (void)args;
    return CKR_OK;
}

static CK_RV session_only(CK_SESSION_HANDLE h)
{
    (void)h;
    return CKR_OK;
}

static CK_RV destroy_object(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj)
{
    (void)h;
    (void)obj;
    return CKR_OK;
}

static const CK_VERSION ONE = {1, 0};

static CK_RV get_info(CK_INFO_PTR p)
{
    memset(p, ' ', sizeof(*p));
    p->cryptokiVersion = (CK_VERSION){2, 40};
    p->flags = 0;
    p->libraryVersion = ONE;
    return CKR_OK;
}

static CK_RV get_slot_list(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR count)
{
    (void)present;
    if (list != NULL) {
        list[0] = 1;
    }
    *count = 1;
    return CKR_OK;
}

static CK_RV get_slot_info(CK_SLOT_ID slot, CK_SLOT_INFO_PTR p)
{
    (void)slot;
    memset(p, ' ', sizeof(*p));
    p->flags = CKF_TOKEN_PRESENT;
    p->hardwareVersion = ONE;
    p->firmwareVersion = ONE;
    return CKR_OK;
}

static CK_RV get_token_info(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR p)
{
    (void)slot;
    memset(p, ' ', sizeof(*p));
    memcpy(p->label, "null", 4);
    p->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED | CKF_LOGIN_REQUIRED;
    p->ulMaxSessionCount = p->ulSessionCount = 0;
    p->ulMaxRwSessionCount = p->ulRwSessionCount = 0;
    p->ulMaxPinLen = 64;
    p->ulMinPinLen = 4;
    p->ulTotalPublicMemory = p->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    p->ulTotalPrivateMemory = p->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    p->hardwareVersion = ONE;
    p->firmwareVersion = ONE;
    return CKR_OK;
}

static CK_RV get_mechanism_list(CK_SLOT_ID slot, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count)
{
    (void)slot;
    if (list != NULL) {
        list[0] = CKM_AES_KEY_GEN;
        list[1] = CKM_AES_KEY_WRAP;
    }
    *count = 2;
    return CKR_OK;
}

static CK_RV get_mechanism_info(CK_SLOT_ID slot, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR p)
{
    (void)slot;
    (void)type;
    p->ulMinKeySize = 16;
    p->ulMaxKeySize = 32;
    p->flags = CKF_GENERATE | CKF_WRAP | CKF_UNWRAP;
    return CKR_OK;
}

static CK_RV open_session(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                          CK_SESSION_HANDLE_PTR out)
{
    (void)slot;
    (void)flags;
    (void)app;
    (void)notify;
    *out = 7;
    return CKR_OK;
}

static CK_RV login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
    (void)h;
    (void)user;
    (void)pin;
    (void)len;
    return CKR_OK;
}

static _Atomic CK_OBJECT_HANDLE next_handle = 100;

static CK_RV generate_key(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_ATTRIBUTE_PTR tmpl,
                          CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
    (void)h;
    (void)mech;
    (void)tmpl;
    (void)count;
    *out = atomic_fetch_add(&next_handle, 1);
    return CKR_OK;
}

static CK_RV wrap_key(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE kek,
                      CK_OBJECT_HANDLE key, CK_BYTE_PTR out, CK_ULONG_PTR out_len)
{
    (void)h;
    (void)mech;
    (void)kek;
    (void)key;
    if (out != NULL) {
        if (*out_len < 40) {
            *out_len = 40;
            return CKR_BUFFER_TOO_SMALL;
        }
        memset(out, 0, 40);
    }
    *out_len = 40;
    return CKR_OK;
}

static CK_RV unwrap_key(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE kek,
                        CK_BYTE_PTR wrapped, CK_ULONG wrapped_len, CK_ATTRIBUTE_PTR tmpl,
                        CK_ULONG count, CK_OBJECT_HANDLE_PTR out)
{
    (void)kek;
    (void)wrapped;
    (void)wrapped_len;
    return generate_key(h, mech, tmpl, count, out);
}

/* An AES secret key that may encrypt, decrypt, wrap and unwrap; the PKCS#11 3.2 types
 * CKA_ENCAPSULATE/CKA_DECAPSULATE (0x633, 0x634), which python-pkcs11 asks for, are invalid. */
static CK_RV get_attribute_value(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE obj, CK_ATTRIBUTE_PTR t,
                                 CK_ULONG count)
{
    (void)h;
    (void)obj;
    CK_RV rv = CKR_OK;
    for (CK_ULONG i = 0; i < count; i++) {
        CK_ATTRIBUTE_TYPE type = t[i].type;
        if (type == CKA_CLASS || type == CKA_KEY_TYPE) {
            CK_ULONG v = type == CKA_CLASS ? CKO_SECRET_KEY : CKK_AES;
            if (t[i].pValue != NULL) {
                memcpy(t[i].pValue, &v, sizeof(v));
            }
            t[i].ulValueLen = sizeof(v);
        } else if (type == 0x633 || type == 0x634) {
            t[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_TYPE_INVALID;
        } else {
            CK_BBOOL v = type == CKA_ENCRYPT || type == CKA_DECRYPT || type == CKA_WRAP ||
                         type == CKA_UNWRAP;
            if (t[i].pValue != NULL) {
                memcpy(t[i].pValue, &v, 1);
            }
            t[i].ulValueLen = 1;
        }
    }
    return rv;
}

static CK_FUNCTION_LIST functions;

NULL_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    if (out == NULL) {
        return CKR_ARGUMENTS_BAD;
    }
    CK_FUNCTION_LIST f;
    /* Every slot not set below answers CKR_FUNCTION_NOT_SUPPORTED. */
    size_t first = offsetof(CK_FUNCTION_LIST, C_Initialize);
    for (size_t off = first; off + sizeof(void *) <= sizeof(f); off += sizeof(void *)) {
        CK_RV (*fn)(void) = not_supported;
        memcpy((char *)&f + off, &fn, sizeof(fn));
    }
    f.version = (CK_VERSION){2, 40};
    f.C_Initialize = init_or_finalize;
    f.C_Finalize = init_or_finalize;
    f.C_GetInfo = get_info;
    f.C_GetFunctionList = C_GetFunctionList;
    f.C_GetSlotList = get_slot_list;
    f.C_GetSlotInfo = get_slot_info;
    f.C_GetTokenInfo = get_token_info;
    f.C_GetMechanismList = get_mechanism_list;
    f.C_GetMechanismInfo = get_mechanism_info;
    f.C_OpenSession = open_session;
    f.C_CloseSession = session_only;
    f.C_Login = login;
    f.C_Logout = session_only;
    f.C_GenerateKey = generate_key;
    f.C_WrapKey = wrap_key;
    f.C_UnwrapKey = unwrap_key;
    f.C_GetAttributeValue = get_attribute_value;
    f.C_DestroyObject = destroy_object;
    functions = f;
    *out = &functions;
    return CKR_OK;
}
