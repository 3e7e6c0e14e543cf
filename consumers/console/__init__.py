"""The officers' console (线索工作台): sign in, list and filter leads, work on them, statistics.

It reads and writes the lead archive (``consumers.archive``) and puts each officer action on the
outcome topic; it does not consume Kafka itself (the archiver fills the archive).
"""

from consumers.console.app import ConsoleConfig, Publish, create_app
from consumers.console.server import ConsoleServer
from consumers.console.sessions import COOKIE, SessionSigner
from consumers.console.users import ROLES, User, UserDirectory, hash_password, load_users, verify_password

__all__ = [
    "COOKIE",
    "ROLES",
    "ConsoleConfig",
    "ConsoleServer",
    "Publish",
    "SessionSigner",
    "User",
    "UserDirectory",
    "create_app",
    "hash_password",
    "load_users",
    "verify_password",
]
