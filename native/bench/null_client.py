"""python-pkcs11's own cost per KW wrap and unwrap, measured on native/bench/null_pkcs11.c
(a module that answers at once and does nothing): the floor under `keystead bench`'s
kw-wrap-aes256 and kw-unwrap-aes256 rows, for any token. Same calls and templates as the
benchmark (bench/clients.py): windows of 2000 unwraps whose objects are kept until
the window ends, median of 7 windows.

    python native/bench/null_client.py /tmp/null_pkcs11.so
"""

from __future__ import annotations

import statistics
import sys
import time

import pkcs11
from pkcs11 import KeyType, Mechanism, MechanismFlag, ObjectClass


def main(path: str, window: int = 2000, windows: int = 7) -> None:
    crypt = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT
    token = pkcs11.lib(path).get_token()
    with token.open(user_pin="1234") as session:
        kek = session.generate_key(KeyType.AES, 256, label="kek",
                                   capabilities=MechanismFlag.WRAP | MechanismFlag.UNWRAP)
        key = session.generate_key(KeyType.AES, 256, label="key", capabilities=crypt)
        wrapped = kek.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP)
        unwraps, wraps = [], []
        for _ in range(windows):
            made = []
            t0 = time.perf_counter()
            for _ in range(window):
                made.append(kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped,
                                           mechanism=Mechanism.AES_KEY_WRAP,
                                           capabilities=crypt))
            unwraps.append((time.perf_counter() - t0) / window)
            made.clear()
            t0 = time.perf_counter()
            for _ in range(window):
                kek.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP)
            wraps.append((time.perf_counter() - t0) / window)
    print(f"python-pkcs11 on a null module: wrap_key {statistics.median(wraps) * 1e6:.1f} us, "
          f"unwrap_key {statistics.median(unwraps) * 1e6:.1f} us (median of {windows} windows)")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/null_pkcs11.so")
