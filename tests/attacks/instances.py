"""Where the attacks run: keystead in its default `strict` profile, in this process.

The root conftest loads keystead with `wrap_policy = compat` (the conformance suite's
oracle is PKCS#11 itself), and a module reads its configuration once per process. So the
strict instance is a copy of the module file under another name: the dynamic loader gives
it its own state, and it reads its own configuration in its own C_Initialize.
"""

from __future__ import annotations

import importlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import keystead
from keystead.softhsm_bridge.config import TokenEnv
from keystead.softhsm_bridge.modules import KEYSTEAD, ModuleInfo
from keystead.softhsm_bridge.provision import Token
from keystead.softhsm_bridge.raw import RawModule

from .actor import Actor

provisioning = importlib.import_module("keystead.softhsm_bridge.provision")

SO_PIN = "so-pin-1234"
USER_PIN = "user-pin-5678"
CONF_ENV = "KEYSTEAD_CONF"


@dataclass
class Instance:
    """One module with two provisioned tokens (a main one and a peer for moves)."""

    name: str
    kind: str
    info: ModuleInfo
    raw: RawModule
    token: Token
    peer: Token
    env: TokenEnv | None = None  # the configuration it was loaded with (keystead)

    def actor(self) -> Actor:
        """The attacker: the user of the main token, and of the peer token too."""
        return Actor(self.raw, self.token, self.kind,
                     peer=Actor(self.raw, self.peer, self.kind))


def keystead_instance(base: Path, policy: str, copy: bool = True) -> Instance:
    """keystead with ``wrap_policy = policy`` and two fresh tokens under ``base``, loaded in
    this process: from a copy of the module file (``copy``), or from the installed module in
    a process that has not loaded it yet (the compat subprocess)."""
    base.mkdir(parents=True, exist_ok=True)
    so = Path(keystead.module_path())
    if copy:
        so = base / f"libkeystead-{policy}.so"
        shutil.copyfile(keystead.module_path(), so)
    info = ModuleInfo(f"keystead-{policy}", str(so), KEYSTEAD)
    before = os.environ.get(CONF_ENV)
    try:
        _, env = provisioning.prepare(info, base / "tokens", wrap_policy=policy)
        raw = provisioning.load(info)
        token = provisioning.provision(info, None, label=f"{policy}-main", so_pin=SO_PIN,
                                       user_pin=USER_PIN)
        peer = provisioning.provision(info, None, label=f"{policy}-peer", so_pin=SO_PIN,
                                      user_pin=USER_PIN)
    finally:
        if before is None:
            os.environ.pop(CONF_ENV, None)
        else:
            os.environ[CONF_ENV] = before
    return Instance(info.name, KEYSTEAD, info, raw, token, peer, env)
