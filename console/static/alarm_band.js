// The alarm page's band box: battery, connection, last signal and where the band was last seen.
"use strict";
const AlarmBand = (() => {
  const { el, dateTime } = Opaska;

  function dl(target, pairs) {
    const node = document.getElementById(target);
    node.replaceChildren(...pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value ?? "–")]));
  }

  function render(detail) {
    const b = detail.band;
    const location = b.last_location
      ? el("a", { href: b.last_location.map_url, target: "_blank", rel: "noopener noreferrer" },
        `${b.last_location.lat.toFixed(5)}, ${b.last_location.lon.toFixed(5)}${b.last_location.accuracy_m ? ` (±${Math.round(b.last_location.accuracy_m)} m)` : ""}`)
      : null;
    dl("band", [
      ["Numer", b.serial], ["Bateria", b.battery_pct !== null ? `${b.battery_pct}%${b.charging ? " (ładuje się)" : ""}` : null],
      ["Ostatni sygnał", b.last_heartbeat_at ? dateTime(b.last_heartbeat_at) : null],
      ["Ostatnio widziana", b.last_seen_at ? dateTime(b.last_seen_at) : null],
      ["Noszona", b.worn === null ? null : b.worn ? "tak" : "NIE"],
      ["Łączność", b.online === null ? null : b.online ? "online" : "OFFLINE"],
      ["Położenie", location],
    ]);
  }

  return { render };
})();
