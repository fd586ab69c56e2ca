"""The map's tiles and attribution are settings, handed to every page in its meta tags (map.js reads
them there); a tile URL that is not an http(s) template is refused at start, naming the setting."""

from __future__ import annotations

import re
import tomllib

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from alarm_center.live import AlarmFeed
from console.app import create_app
from console.context import ConsoleContext
from core.clock import FakeClock
from core.settings import ConsoleSettings, Settings
from simulator.lab.processes import REPO
from simulator.lab.staff import create_staff, log_in


def _meta(page: str, name: str) -> str:
    found = re.search(rf'<meta name="{name}" content="([^"]*)">', page)
    assert found is not None, name
    return found.group(1)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("tiles", "attribution", "shown_tiles", "shown_attribution"),
    [
        (
            "https://tiles.example.pl/{z}/{x}/{y}.png",
            "© OpenStreetMap & <i>Gmina</i>",
            "https://tiles.example.pl/{z}/{x}/{y}.png",
            "© OpenStreetMap &amp; &lt;i&gt;Gmina&lt;/i&gt;",
        ),
        ("", "", "", ""),
    ],
    ids=["tiles", "no tiles"],
)
async def test_pages_carry_the_map_settings(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    tiles: str,
    attribution: str,
    shown_tiles: str,
    shown_attribution: str,
) -> None:
    settings = ConsoleSettings(map_tiles_url=tiles, map_attribution=attribution)
    app = create_app(ConsoleContext(sessions, AlarmFeed(sessions), run_feed=False, settings=settings), clock=clock)
    member = await create_staff(sessions, clock, role="administrator")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as http:
        await log_in(http, member)
        for path in ("/", "/alarms/1"):
            page = (await http.get(path)).text
            assert _meta(page, "opaska-map-tiles") == shown_tiles
            assert _meta(page, "opaska-map-attribution") == shown_attribution
        alarm_page = (await http.get("/alarms/1")).text
        assert '<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">' in alarm_page
        for script in ("/static/vendor/leaflet/leaflet.js", "/static/map.js", "/static/band_signal.js"):
            assert f'<script src="{script}">' in alarm_page
            assert (await http.get(script)).status_code == 200


def test_the_default_is_openstreetmap_and_a_bad_template_is_refused() -> None:
    shipped = tomllib.loads((REPO / "config" / "opaska.toml").read_text())["console"]
    for console in (Settings().console, ConsoleSettings(**shipped)):
        assert console.map_tiles_url == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        assert console.map_attribution == "© OpenStreetMap contributors"
    for bad in ("ftp://tiles.example.pl/{z}/{x}/{y}.png", "https://tiles.example.pl/tile.png", "javascript:alert(1)"):
        with pytest.raises(ValidationError, match="map_tiles_url"):
            ConsoleSettings(map_tiles_url=bad)
