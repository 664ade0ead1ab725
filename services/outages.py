"""Which failures mean "PostgreSQL or Redis went away", not "this code or this input is wrong".

One list for every process: the API answers them with a 503 and `Retry-After`
(services/problems.py); the relay, the consumer groups and the job runner back off and resume
(workers/). asyncpg raises many classes for a lost server, depending on when it notices:
refused or reset sockets (OSError), a connection closed under a query
(ConnectionDoesNotExistError), a server shutting down or starting (AdminShutdownError,
CannotConnectNowError), and on a protocol cut mid-message InternalClientError.
"""

from __future__ import annotations

import asyncpg
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

POSTGRES_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable (ConnectionError is one)
    TimeoutError,  # a connect or pool-acquire timeout
    asyncpg.PostgresConnectionError,  # ConnectionDoesNotExistError, ConnectionFailureError...
    asyncpg.exceptions.OperatorInterventionError,  # shutting down, starting up, crashed
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InternalClientError,  # the protocol cut mid-message
    asyncpg.InterfaceError,  # "connection is closed", "pool is closing"
)

REDIS_OUTAGES: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError)

# What a worker or relay rides out: any Redis error (also LOADING, READONLY after a failover,
# OOM), every PostgreSQL outage.
OUTAGES: tuple[type[BaseException], ...] = (*POSTGRES_OUTAGES, RedisError)

# What the API answers with 503: a server it needs is unreachable right now. (Not asyncpg's
# InterfaceError as such: most of those are misuse, a bug to see as a 500.)
UNAVAILABLE: tuple[type[BaseException], ...] = (
    *(cls for cls in POSTGRES_OUTAGES if cls is not asyncpg.InterfaceError),
    *REDIS_OUTAGES,
)
