/* gcm_vaes256.c - placeholder: forwards to the AES-NI kernel until the wide kernel lands. */
#include "crypto/gcm_internal.h"

const ks_gcm_kernel ks_gcm_kernel_vaes256 = {ks_gcm_aesni_ghash, ks_gcm_aesni_encrypt,
                                            ks_gcm_aesni_decrypt};
