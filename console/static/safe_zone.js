// A resident's safe zone on their registry page: the circle around home (centre and radius), drawn
// on the resident's map with the band's newest position. Read by everyone, set by technicians,
// supervisors and administrators (everyone who opens this page).
"use strict";
{
  const { api, show } = Opaska;
  const $ = (id) => document.getElementById(id);
  let zone = null;
  let location = null;

  function redraw() {
    OpaskaMap.show("resident-map", location, zone);
    $("zone-here").disabled = !location;
  }

  function shown(state) {
    zone = state.zone;
    $("zone-lat").value = zone ? zone.lat : "";
    $("zone-lon").value = zone ? zone.lon : "";
    $("zone-radius").value = zone ? zone.radius_m : "";
    let text = zone ? `Strefa: ${zone.radius_m} m od domu.` : "Bez strefy bezpiecznej.";
    if (zone && location) {
      const metres = Math.round(OpaskaMap.distance(zone, location));
      text += ` Ostatnie położenie opaski: ${metres} m od środka.`;
    }
    if (zone && state.outside) text += " Opaska jest teraz POZA strefą.";
    $("zone-state").textContent = text;
    redraw();
  }

  function url() { return `/api/registry/residents/${$("resident-page").dataset.residentId}/safe-zone`; }

  function number(id) {
    const text = $(id).value.trim().replace(",", ".");
    return text === "" ? null : Number(text);
  }

  async function save(body) {
    show("zone-error", "");
    try { shown(await api("PUT", url(), body)); } catch (error) { show("zone-error", error.message); }
  }

  document.addEventListener("opaska:band-location", (event) => {
    location = event.detail;
    redraw();
  });

  document.addEventListener("DOMContentLoaded", async () => {
    $("zone-form").addEventListener("submit", (event) => {
      event.preventDefault();
      save({ lat: number("zone-lat"), lon: number("zone-lon"), radius_m: number("zone-radius") });
    });
    $("zone-here").addEventListener("click", () => {
      if (!location) return;
      $("zone-lat").value = location.lat.toFixed(6);
      $("zone-lon").value = location.lon.toFixed(6);
      if (!$("zone-radius").value) $("zone-radius").value = 300;
      $("zone-radius").focus();
    });
    $("zone-off").addEventListener("click", () => save({ lat: null, lon: null, radius_m: null }));
    try { shown(await api("GET", url())); } catch (error) { show("zone-error", error.message); }
  });
}
