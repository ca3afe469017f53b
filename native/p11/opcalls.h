/* opcalls.h - the three shapes every single/multi-part entry point takes (PKCS#11 3.0 5.2):
 * single-part with output, update (with or without output), final with output. */
#ifndef KS_P11_OPCALLS_H
#define KS_P11_OPCALLS_H

#include "p11/guard.h"

CK_RV ks_call_single(CK_SESSION_HANDLE h, ks_op_slot slot, CK_BYTE_PTR in, CK_ULONG in_len,
                     CK_BYTE_PTR out, CK_ULONG_PTR out_len);
/* out_len == NULL: an update without output (sign, verify, digest). */
CK_RV ks_call_update(CK_SESSION_HANDLE h, ks_op_slot slot, CK_BYTE_PTR in, CK_ULONG in_len,
                     CK_BYTE_PTR out, CK_ULONG_PTR out_len);
CK_RV ks_call_final(CK_SESSION_HANDLE h, ks_op_slot slot, CK_BYTE_PTR out,
                    CK_ULONG_PTR out_len);

#endif
