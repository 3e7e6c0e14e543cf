"""The push API (``jiandu gateway``): agencies POST canonical records; each is answered accepted, duplicate or rejected.

Modules:

- credentials.py  agencies, bearer tokens stored as scrypt hashes, which sources and types each may send
- receipts.py     accepted event ids (SQLite, or PostgreSQL shared by replicas): a re-send is a duplicate
- retention.py    deleting expired ids in the background, a batch at a time
- ratelimit.py    per-agency token buckets on requests and records per second (429 with Retry-After)
- batch.py        one request's records through producers.RecordIntake, confirmed before the answer
- app.py          HTTP: authentication, size limits, JSON, status codes (Starlette)
- openapi.py      the OpenAPI 3.1 document served at /openapi.json
- server.py       uvicorn on 127.0.0.1 in a stoppable thread
"""

from adapters.gateway.app import Limits, create_app, declare_requests
from adapters.gateway.batch import BatchResult, PushIntake, RecordResult
from adapters.gateway.credentials import Agency, AgencyRegistry, hash_token, load_agencies, new_token, verify_token
from adapters.gateway.openapi import BATCH_PATH, openapi_document
from adapters.gateway.ratelimit import AgencyThrottle, RateLimits
from adapters.gateway.receipts import AcceptedEventIds, open_receipts
from adapters.gateway.server import GatewayServer

__all__ = [
    "BATCH_PATH",
    "AcceptedEventIds",
    "Agency",
    "AgencyRegistry",
    "AgencyThrottle",
    "BatchResult",
    "GatewayServer",
    "Limits",
    "PushIntake",
    "RateLimits",
    "RecordResult",
    "create_app",
    "declare_requests",
    "hash_token",
    "load_agencies",
    "new_token",
    "open_receipts",
    "openapi_document",
    "verify_token",
]
