"""Errors the lab services report.

    ServiceError            root: `serve` prints it on one line and exits non-zero
    ├── ConfigError         the config file cannot be used (exit 2); names the field
    ├── ListenError         a listener cannot be opened (address missing or in use)
    └── CertificateError    the lab CA or a certificate cannot be made or loaded

On SIGHUP a ServiceError keeps the running config: it is logged, not fatal.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Root of every error the lab services report."""

    exit_code = 1


class ConfigError(ServiceError):
    """The config file is not valid; the message names the field and the fix."""

    exit_code = 2


class ListenError(ServiceError):
    """A listener cannot be opened."""


class CertificateError(ServiceError):
    """The lab CA or a certificate cannot be made or loaded."""
