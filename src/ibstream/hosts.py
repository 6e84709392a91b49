"""The name in an HTTP ``Host`` header, as the service's and the simulator's guards read it.

Both refuse requests by ``Host`` (DNS rebinding: a browser page reaching a local port under the
attacker's own name); they decide differently, but read the header the same way here.
"""

from __future__ import annotations

__all__ = ["host_name"]


def host_name(host: str) -> str:
    """The host of ``Host: name[:port]``, lower case, without the port, the brackets of an IPv6
    address (``[::1]:8000`` -> ``::1``) or a trailing dot; ``""`` when there is none."""
    name = host.strip().lower()
    if name.startswith("["):
        name = name[1 : name.find("]")] if "]" in name else name[1:]
    elif name.count(":") == 1:
        name = name.partition(":")[0]
    return name.rstrip(".")
