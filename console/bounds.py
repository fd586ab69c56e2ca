"""Bounds of the integers the console's HTTP API accepts, declared once for every route.

Python's int has no limit, the database's has: asyncpg and sqlite3 cannot bind an int outside
signed 64 bits, and such a number used to fail there (OverflowError, DataError) as a 500. Bounded
here, it is the client's mistake, answered 422 naming the field before any query is made.

The types are plain pydantic constraints, so one declaration serves a path or query parameter
(FastAPI reads a `Field` in `Annotated` as it reads `Path`/`Query`; tests/test_api_int_bounds.py
sends every parameter out of range) and a request body's field alike. Add a `Path(...)` or
`Query(...)` beside one for a description or an alias: `Annotated[DbId, Query(alias="id")]`.
"""

from typing import Annotated

from pydantic import Field

# Row ids are BIGINT (SQLite: INTEGER, also 64-bit) counting up from 1. 2**62 is far beyond any id
# a centre will hand out and keeps clear of the type's edge.
MAX_ID = 2**62

# The id of a row: an alarm, resident, contact, band, municipality, notification.
DbId = Annotated[int, Field(gt=0, le=MAX_ID)]
