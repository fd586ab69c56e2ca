// A band's last signal in words, the same on the alarm page and the band and resident cards:
// "18:39:12 · SOS" today, "3.12.2026, 18:39:12 · sygnał kontrolny" on an earlier day.
"use strict";
const BandSignal = (() => {
  // Every kind a band may send (gateway/payloads.py), as an operator says it.
  const KINDS = {
    heartbeat: "sygnał kontrolny",
    sos: "SOS",
    fall: "upadek",
    fall_cancel: "odwołanie upadku",
    battery_low: "słaba bateria",
    strap: "zdjęcie/założenie opaski",
    location: "położenie",
    checkin: "meldunek „wszystko dobrze”",
  };

  function when(iso) {
    const at = new Date(iso);
    return at.toDateString() === new Date().toDateString() ? Opaska.clock(iso) : Opaska.dateTime(iso);
  }

  // {at, kind} -> "18:39:12 · SOS"; null -> "brak".
  function text(signal) {
    if (!signal) return "brak";
    return `${when(signal.at)} · ${KINDS[signal.kind] || signal.kind}`;
  }

  return { KINDS, text, when };
})();
