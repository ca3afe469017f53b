/* ks_export.h - symbol visibility for the native core.
 *
 * The core is compiled with -fvisibility=hidden; only PKCS#11 entry points and the vendor
 * functions documented in keystead.h are marked KS_EXPORT (and listed in p11/exports.map). */
#ifndef KS_EXPORT_H
#define KS_EXPORT_H

#define KS_EXPORT __attribute__((visibility("default")))

#endif
