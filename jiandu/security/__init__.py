"""What the hub's faces toward agencies and officers share against misuse: headers, sign-in throttling, safe text."""

from jiandu.security.headers import SECURITY_HEADERS, SecurityHeaders
from jiandu.security.terminal import printable
from jiandu.security.throttle import FailureThrottle, Verdict

__all__ = ["SECURITY_HEADERS", "FailureThrottle", "SecurityHeaders", "Verdict", "printable"]
