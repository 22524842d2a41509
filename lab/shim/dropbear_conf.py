"""/etc/config/dropbear → the SSH listeners OpenWrt 22.03's /etc/init.d/dropbear starts.

Pure: the package and each UCI interface's addresses (as netifd reports them)
in, procd instances out. What the init script does, per `config dropbear`
section in file order (checked on a real 22.03.4, tests/fixtures/ubus/PROVENANCE.md):

- validate the section (bool, port, uinteger and file options); one bad value
  and the section gets no instance ("validation failed");
- `option Interface NAME`: listen on that interface's addresses only
  (`-p ADDR:PORT` each); an interface with no address gets no instance
  ("interface NAME has no physdev or physdev has no suitable ip");
- `option enable '0'`: no instance;
- otherwise `-p PORT`: every address.

Started instances are numbered in order: instance1, instance2, ... (procd's
names, dropbear.N.pid). The lab serves each with one OpenSSH master process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from controller.uci import Package, Section

DROPBEAR = "/usr/sbin/dropbear"
MAX_WINDOW = 1048576  # the init script ignores a larger RecvWindowSize
TRUE = ("1", "on", "true", "yes", "enabled")  # procd's validate_data bool values
FALSE = ("0", "off", "false", "no", "disabled")
NO_ADDRESS = "interface {} has no physdev or physdev has no suitable ip"


class Invalid(ValueError):
    """An option value validate_data would refuse."""


@dataclass(frozen=True)
class DropbearOptions:
    """One section after validate_section_dropbear (its defaults filled in)."""

    port: int = 22
    enable: bool = True
    interface: str | None = None
    password_auth: bool = True
    gateway_ports: bool = False
    root_password_auth: bool = True
    root_login: bool = True
    key_files: tuple[str, ...] = ()
    banner: str | None = None
    keepalive: int = 300
    idle_timeout: int = 0
    max_auth_tries: int = 3
    window: int = 0


@dataclass(frozen=True)
class DropbearInstance:
    """One dropbear process as procd runs it, and where it listens."""

    name: str  # procd's instance name: instance1, instance2, ...
    port: int
    addresses: tuple[str, ...]  # empty: every address
    command: tuple[str, ...]  # dropbear's command line, as `ubus call service list` shows it
    root_login: bool

    @property
    def listen(self) -> tuple[str, ...]:
        """OpenSSH ListenAddress values binding exactly what dropbear's -p options bind."""
        if not self.addresses:
            return (f"0.0.0.0:{self.port}",)
        return tuple(f"{_host(a)}:{self.port}" for a in self.addresses)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def dropbear_instances(
    package: Package | None,
    addresses: Mapping[str, Sequence[str]],
    file_exists: Callable[[str], bool] = os.path.exists,
) -> tuple[list[DropbearInstance], list[str]]:
    """The instances the init script starts, and what it prints about skipped sections.

    `addresses`: each UCI interface that is up → its addresses (no prefix length).
    """
    instances: list[DropbearInstance] = []
    notes: list[str] = []
    for section in package.sections if package else []:
        if section.type != "dropbear":
            continue
        try:
            options = validate(section, file_exists)
        except Invalid:
            notes.append("validation failed")
            continue
        bound: tuple[str, ...] = ()
        if options.interface is not None:
            bound = tuple(dict.fromkeys(addresses.get(options.interface, ())))
            if not bound:
                notes.append(NO_ADDRESS.format(options.interface))
                continue
        if not options.enable:
            continue
        number = len(instances) + 1
        instances.append(
            DropbearInstance(
                f"instance{number}",
                options.port,
                bound,
                command(number, options, bound),
                options.root_login,
            )
        )
    return instances, notes


def validate(section: Section, file_exists: Callable[[str], bool]) -> DropbearOptions:
    """validate_section_dropbear: the typed options, or Invalid."""
    files = [_scalar(section, "rsakeyfile"), *_items(section, "keyfile")]
    banner = _scalar(section, "BannerFile")
    if any(f is not None and not file_exists(f) for f in (*files, banner)):
        raise Invalid("no such file")
    return DropbearOptions(
        port=_uint(section, "Port", 22, maximum=65535),
        enable=_bool(section, "enable", True),
        interface=_scalar(section, "Interface"),
        password_auth=_bool(section, "PasswordAuth", True),
        gateway_ports=_bool(section, "GatewayPorts", False),
        root_password_auth=_bool(section, "RootPasswordAuth", True),
        root_login=_bool(section, "RootLogin", True),
        key_files=tuple(f for f in files if f is not None),
        banner=banner,
        keepalive=_uint(section, "SSHKeepAlive", 300),
        idle_timeout=_uint(section, "IdleTimeout", 0),
        max_auth_tries=_uint(section, "MaxAuthTries", 3),
        window=_uint(section, "RecvWindowSize", 0),
    )


def _scalar(section: Section, name: str) -> str | None:
    value = section.options.get(name)
    if isinstance(value, list):
        raise Invalid(f"{name} is a list")
    return value


def _items(section: Section, name: str) -> list[str]:
    value = section.options.get(name, [])
    return [value] if isinstance(value, str) else list(value)


def _bool(section: Section, name: str, default: bool) -> bool:
    value = _scalar(section, name)
    if value is None:
        return default
    if value.lower() in TRUE:
        return True
    if value.lower() in FALSE:
        return False
    raise Invalid(f"{name} is not a boolean")


def _uint(section: Section, name: str, default: int, maximum: int | None = None) -> int:
    value = _scalar(section, name)
    if value is None:
        return default
    if not value.isascii() or not value.isdigit():
        raise Invalid(f"{name} is not an unsigned integer")
    number = int(value)
    if maximum is not None and number > maximum:
        raise Invalid(f"{name} is out of range")
    return number


def command(number: int, options: DropbearOptions, bound: Sequence[str]) -> tuple[str, ...]:
    """dropbear_instance() in /etc/init.d/dropbear, flag by flag."""
    argv = [DROPBEAR, "-F", "-P", f"/var/run/dropbear.{number}.pid"]
    flags = (
        (not options.password_auth, "-s"),
        (options.gateway_ports, "-a"),
        (not options.root_password_auth, "-g"),
        (not options.root_login, "-w"),
    )
    argv += [flag for wanted, flag in flags if wanted]
    for key in options.key_files:
        argv += ["-r", key]
    if options.banner is not None:
        argv += ["-b", options.banner]
    for address in bound or [""]:
        argv += ["-p", f"{address}:{options.port}" if address else str(options.port)]
    numbers = (
        ("-I", options.idle_timeout, options.idle_timeout != 0),
        ("-K", options.keepalive, options.keepalive != 0),
        ("-T", options.max_auth_tries, options.max_auth_tries != 0),
        ("-W", options.window, 0 < options.window <= MAX_WINDOW),
    )
    for flag, value, wanted in numbers:
        if wanted:
            argv += [flag, str(value)]
    return tuple(argv)


def sshd_options(instance: DropbearInstance, pid_file: str) -> list[str]:
    """OpenSSH `-o` options that make one sshd serve like this dropbear instance.

    Values are separate argv items (no shell); the port is an int and the
    addresses come from the kernel, never verbatim from the config file.
    """
    options = ["-o", f"PidFile={pid_file}"]
    for listen in instance.listen:
        options += ["-o", f"ListenAddress={listen}"]
    if not instance.root_login:  # dropbear -w: root may not log in at all
        options += ["-o", "PermitRootLogin=no"]
    return options
