"""scripts/setup.sh installs every tool of the consumer tier: a tool missing skips its
scenarios, and this test fails, so a setup that lost a package is not a green run."""

from __future__ import annotations

import shutil
from pathlib import Path

from .test_gnutls import SPY
from .test_openssl import ENGINE, PROVIDER
from .test_p11kit import CLIENT, PROXY

TOOLS = ("pkcs11-tool", "p11tool", "certtool", "openssl", "java", "javac", "keytool",
         "p11-kit", "unshare")
FILES = (PROVIDER, ENGINE, PROXY, CLIENT, SPY)


def test_setup_installs_every_tool() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    missing += [f for f in FILES if not Path(f).exists()]
    assert not missing, f"run scripts/setup.sh: missing {', '.join(missing)}"
