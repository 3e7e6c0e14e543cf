"""The PostgreSQL helper the archive tests use (tests/postgres.py) runs a real server, stopped by pid."""

from __future__ import annotations

import psycopg

from tests.postgres import PostgresServer, postgres_server

__all__ = ["PostgresServer", "postgres_server"]


def test_the_server_runs_as_its_own_process_and_stops_by_pid(postgres_server: PostgresServer) -> None:
    assert postgres_server.proc is not None and postgres_server.proc.poll() is None
    with psycopg.connect(postgres_server.database()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
