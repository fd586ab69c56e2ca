// The alarm page's band box: battery, connection, its last signal (the newest message, any kind),
// the last check-in apart from it, and where the band was last located, on a map (map.js).
"use strict";
const AlarmBand = (() => {
  const { el, dateTime } = Opaska;

  function dl(target, pairs) {
    const node = document.getElementById(target);
    node.replaceChildren(...pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value ?? "–")]));
  }

  function render(detail) {
    const b = detail.band;
    if (!b) {  // a call from a number no band or resident has
      dl("band", [["", "Brak opaski: połączenie z nieznanego numeru."]]);
      OpaskaMap.show("band-map", null);
      return;
    }
    dl("band", [
      ["Numer", b.serial], ["Bateria", b.battery_pct !== null ? `${b.battery_pct}%${b.charging ? " (ładuje się)" : ""}` : null],
      ["Ostatni sygnał", el("span", { id: "band-last-signal" }, BandSignal.text(b.last_signal))],
      ["Ostatni meldunek", b.last_heartbeat_at ? dateTime(b.last_heartbeat_at) : null],
      ["Ostatnio widziana", b.last_seen_at ? dateTime(b.last_seen_at) : null],
      ["Noszona", b.worn === null ? null : b.worn ? "tak" : "NIE"],
      ["Łączność", b.online === null ? null : b.online ? "online" : "OFFLINE"],
    ]);
    const zone = detail.resident ? detail.resident.safe_zone : null;
    OpaskaMap.show("band-map", b.last_location, zone);
    showZoneDistance(detail, zone);
  }

  // On a left_zone alarm: how far from home the band is now, in words, above the map.
  function showZoneDistance(detail, zone) {
    const node = document.getElementById("zone-distance");
    if (!node) return;
    const location = detail.band && detail.band.last_location;
    node.hidden = !(zone && location && detail.alarm.kind === "left_zone");
    if (node.hidden) return;
    const metres = Math.round(OpaskaMap.distance(zone, location));
    node.textContent = metres > zone.radius_m
      ? `Poza strefą: ${metres} m od domu (strefa ${zone.radius_m} m).`
      : `W strefie: ${metres} m od domu (strefa ${zone.radius_m} m).`;
    node.classList.toggle("warn", metres > zone.radius_m);
  }

  return { render };
})();
