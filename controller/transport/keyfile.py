"""Our own SSH private key: loaded and checked before any network traffic.

A missing, unreadable or passphrase-protected key is a mistake on the
operator's machine; it gets a message naming the file, not an
"authentication failed" from a router that was never at fault.
"""

from __future__ import annotations

from typing import Any

import paramiko
from paramiko.ssh_exception import PasswordRequiredException, SSHException

from controller.secrets import FileRefused, read_regular_file
from controller.transport.base import SshTarget
from controller.transport.errors import KeyFileUnusable


def load_private_key(target: SshTarget) -> Any:
    """The paramiko key (Ed25519, ECDSA or RSA) in `target.key_file`."""
    path = target.key_file
    try:
        read_regular_file(path)  # a FIFO would hang paramiko, /dev/zero fill the memory
        return paramiko.PKey.from_path(path)
    except FileRefused as exc:
        problem = exc.what
    except OSError as exc:
        problem = (exc.strerror or str(exc)).lower()
    except (PasswordRequiredException, TypeError):
        # cryptography raises TypeError for an encrypted key given no password.
        problem = "it is encrypted with a passphrase"
    except (ValueError, SSHException):
        problem = "it is not an Ed25519, ECDSA or RSA private key"
    raise KeyFileUnusable(target.node, target.user, path, problem)


def check_private_key(target: SshTarget) -> str:
    """For the OpenSSH client: the key loads, and its mode is private enough.

    Returns the key's SSH type name (`ssh-rsa`, `ssh-ed25519`, ...)."""
    key = load_private_key(target)
    mode = target.key_file.stat().st_mode & 0o777
    if mode & 0o077:
        problem = f"its mode is {mode:04o}; OpenSSH ignores a private key others can read"
        raise KeyFileUnusable(
            target.node, target.user, target.key_file, f"{problem} (chmod 600 it)"
        )
    return str(key.get_name())
