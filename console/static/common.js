// Shared by every console page: the API client (session cookie + CSRF header), Polish labels,
// times, and the live connection that reconnects by itself.
"use strict";

const Opaska = (() => {
  const KINDS = {
    sos: "SOS", fall: "Upadek", band_offline: "Opaska bez łączności",
    battery_low: "Słaba bateria", not_worn: "Opaska zdjęta", voice_call: "Połączenie",
    no_checkin: "Brak meldunku", left_zone: "Poza strefą", welfare_call: "Rozmowa kontrolna",
    canary: "Alarm kontrolny", canary_lost: "Ścieżka alarmowa nie działa",
  };
  // Alarms about a person (the server's life class): the main queue, the alarm sound, a close with a note.
  const LIFE_KINDS = new Set(["sos", "fall", "voice_call", "no_checkin", "left_zone", "welfare_call"]);
  const STATUSES = { raised: "nowy", claimed: "przyjęty", resolved: "zamknięty", cancelled: "odwołany" };
  const OUTCOMES = {
    false_alarm: "Fałszywy alarm",
    resident_ok_after_call: "Mieszkaniec OK po rozmowie",
    relative_attended: "Bliski na miejscu",
    carer_sent: "Wysłano opiekuna",
    ambulance_called: "Wezwano pogotowie (112)",
    no_contact_help_dispatched: "Brak kontaktu — wysłano pomoc",
    forced_entry: "Wejście siłowe (policja/straż)",
    technical_fault: "Usterka techniczna",
    cancelled_by_resident: "Odwołany przez mieszkańca",
    auto_cleared: "Ustąpił sam",
    band_charged: "Opaska naładowana",
    band_worn_again: "Opaska znów noszona",
    band_replaced_or_repaired: "Opaska wymieniona lub naprawiona",
    resident_away: "Mieszkaniec poza domem (szpital, wyjazd)",
    installation_test_ok: "Test instalacyjny zakończony",
    installation_test_failed: "Test instalacyjny nieudany",
  };
  const CHANNELS = { sms: "SMS", voice: "połączenie" };

  class ApiError extends Error {
    constructor(status, message, data) { super(message); this.status = status; this.data = data; }
  }

  function csrfToken() {
    const meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  }

  function describeError(data, status) {
    if (data && typeof data.detail === "string") return data.detail;
    if (data && Array.isArray(data.detail)) {
      return data.detail.map((d) => `${(d.loc || []).slice(1).join(".") || "dane"}: ${d.msg}`).join("; ");
    }
    return `błąd ${status}`;
  }

  async function api(method, url, body) {
    const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
    if (method !== "GET") init.headers["X-CSRF-Token"] = csrfToken();
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (error) {
      throw new ApiError(0, "brak połączenia z konsolą", null);
    }
    if (response.status === 401) {
      location.href = `/login?next=${encodeURIComponent(location.pathname)}`;
      throw new ApiError(401, "sesja wygasła — zaloguj się ponownie", null);
    }
    let data = null;
    if (response.status !== 204) {
      try { data = await response.json(); } catch (error) { data = null; }
    }
    if (!response.ok) throw new ApiError(response.status, describeError(data, response.status), data);
    return data;
  }

  function secondsSince(iso, now = Date.now()) {
    return Math.max(0, Math.floor((now - new Date(iso).getTime()) / 1000));
  }

  function duration(seconds) {
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
  }

  // The answer-time targets: claimed within 60 s; never later than 180 s.
  function ageClass(seconds) {
    return seconds < 60 ? "age-ok" : seconds < 180 ? "age-warn" : "age-late";
  }

  function clock(iso) {
    return iso ? new Date(iso).toLocaleTimeString("pl-PL", { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "–";
  }

  function dateTime(iso) {
    return iso ? new Date(iso).toLocaleString("pl-PL") : "–";
  }

  function residentName(alarm) {
    if (alarm.resident) return `${alarm.resident.first_name} ${alarm.resident.last_name}`;
    // A call from a number nobody in the registry has: the number is all there is.
    if (!alarm.band_serial && alarm.caller_number) return `nieznany numer ${alarm.caller_number}`;
    return `opaska ${alarm.band_serial}`;
  }

  // el("td", {className: "x"}, "text", child): text is always set as text, never as HTML.
  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (value !== undefined && value !== null) node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function show(id, text) {
    const node = document.getElementById(id);
    if (!node) return;
    node.textContent = text || "";
    node.hidden = !text;
  }

  // The live feed: a snapshot of open alarms at every (re)connect, then every alarm event as it
  // commits. One connection per page, shared by everything on it (the page's own view and the
  // alarm bar); a lost connection is retried with a growing pause; the snapshot re-syncs what was
  // missed. The connection badge (#connection) is in every page's header.
  const live = { listeners: [], retryMs: 500, started: false };

  function liveState(name, text) {
    document.body.dataset.live = name;
    const badge = document.getElementById("connection");
    if (!badge) return;
    badge.className = `connection ${name}`;
    badge.textContent = text;
  }

  function connectLive() {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/live`);
    ws.onmessage = (message) => {
      const data = JSON.parse(message.data);
      if (data.type === "snapshot") {
        live.retryMs = 500;
        liveState("live", "na żywo");
        for (const listener of live.listeners) if (listener.onSnapshot) listener.onSnapshot(data.alarms);
      } else if (data.type === "alarm_event") {
        for (const listener of live.listeners) if (listener.onEvent) listener.onEvent(data);
      }
    };
    ws.onclose = () => {
      liveState("lost", "brak połączenia — ponawiam…");
      setTimeout(connectLive, live.retryMs);
      live.retryMs = Math.min(live.retryMs * 2, 5000);
    };
  }

  // Listen to the live feed: { onSnapshot(alarms), onEvent(message) }. Listeners added while the
  // page's scripts run all get the first snapshot; the connection opens once the page has loaded.
  function onLive(listener) {
    live.listeners.push(listener);
    if (live.started) return;
    live.started = true;
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", connectLive);
    else setTimeout(connectLive, 0);
  }

  class Live {
    constructor({ onSnapshot, onEvent }) { onLive({ onSnapshot, onEvent }); }
  }

  // The page's own title; the alarm bar puts the count of unclaimed alarms in front of it.
  const title = { base: document.title, prefix: "" };
  function setTitle(base) {
    if (base !== undefined) title.base = base;
    document.title = `${title.prefix}${title.base}`;
  }
  function setTitlePrefix(prefix) {
    title.prefix = prefix;
    setTitle();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const logout = document.getElementById("logout");
    if (logout) {
      logout.addEventListener("click", async () => {
        try { await api("POST", "/api/logout"); } catch (error) { /* gone already: still leave */ }
        location.href = "/login";
      });
    }
  });

  return {
    KINDS, STATUSES, OUTCOMES, CHANNELS, ApiError, api, secondsSince, duration, ageClass,
    clock, dateTime, residentName, el, show, Live, onLive, setTitle, setTitlePrefix, LIFE_KINDS,
  };
})();
