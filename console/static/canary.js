// The header's alarm-canary badge (docs/canary.md): did the platform's own test alarm get through
// the whole path lately, and how fast. Green with the end-to-end time; red when a canary was lost
// (real alarms may not be reaching the console); grey when nobody has checked for a while.
"use strict";
{
  const REFRESH_MS = 10_000;
  const STAGES = {
    broker: "broker MQTT", gateway: "bramka", ack: "potwierdzenie do opaski",
    engine: "silnik", feed: "konsola na żywo", database: "baza danych",
  };

  function seconds(value) {
    return `${value.toLocaleString("pl-PL", { maximumFractionDigits: value < 10 ? 2 : 0 })} s`;
  }

  function render(badge, status) {
    const { dateTime } = Opaska;
    badge.hidden = false;
    badge.className = `canary ${status.state}`;
    if (status.state === "ok") {
      badge.textContent = `Ścieżka alarmowa: ${seconds(status.last_ok_seconds)}`;
      badge.title = `Alarm kontrolny przeszedł przez całą platformę ${ago(status.last_ok_at)} (${dateTime(status.last_ok_at)}): od naciśnięcia na opasce do konsoli ${seconds(status.last_ok_seconds)}.`;
    } else if (status.state === "lost") {
      badge.textContent = "ŚCIEŻKA ALARMOWA PRZERWANA";
      const where = STAGES[status.stage] || status.stage || "";
      badge.title = `Alarm kontrolny nie przeszedł${where ? ` (zatrzymał się: ${where})` : ""} od ${dateTime(status.lost_since)}. Alarmy mogą nie docierać — wezwij dyżur techniczny.`;
    } else if (status.state === "stale") {
      badge.textContent = "Ścieżka alarmowa: brak kontroli";
      badge.title = `Ostatni alarm kontrolny ${dateTime(status.last_round_at)}: konsola, która go wysyła, nie działa.`;
    } else {
      badge.hidden = true;  // never: a new installation before the first canary
    }
  }

  function ago(iso) {
    const minutes = Math.floor(Math.max(0, Date.now() - new Date(iso).getTime()) / 60_000);
    return minutes < 1 ? "przed chwilą" : `${minutes} min temu`;
  }

  async function refresh(badge) {
    try { render(badge, await Opaska.api("GET", "/api/platform/canary")); } catch (_) { /* the connection badge says it */ }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const badge = document.getElementById("canary");
    if (!badge) return;
    refresh(badge);
    setInterval(() => refresh(badge), REFRESH_MS);
  });
}
