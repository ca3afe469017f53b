/* ks_core.h - everything the cffi extension (keystead._core) exposes to Python.
 *
 * The declarations cffi sees are the *.cdef files under native/; this header makes the same
 * declarations visible to the C compiler when it builds the extension. */
#ifndef KS_CORE_H
#define KS_CORE_H

#include "pkcs11.h"
#include "keystead.h"

#include "crypto/aes.h"
#include "crypto/cmac.h"
#include "crypto/ct.h"
#include "crypto/digest.h"
#include "crypto/gcm.h"
#include "crypto/hmac.h"
#include "crypto/kdf.h"
#include "crypto/kw.h"
#include "crypto/mem.h"
#include "crypto/pkey_prep.h"
#include "crypto/rand.h"
#include "crypto/sha256.h"
#include "crypto/status.h"

#include "token/attrs.h"
#include "token/config.h"
#include "token/lifecycle.h"
#include "token/log.h"
#include "token/mech.h"
#include "token/ops.h"
#include "token/rules.h"
#include "token/slots.h"
#include "token/store.h"

#endif
