// Welfare calls' words and times, shared by the shift's list (queue page) and the planning forms
// (registry pages).
"use strict";
const Welfare = (() => {
  const REASONS = {
    weekly: "cotygodniowa", discharge: "po wypisie ze szpitala", birthday: "urodziny", other: "inna",
  };
  const OUTCOMES = { reached: "rozmowa odbyta", no_answer: "nie odbiera", needs_visit: "potrzebna wizyta" };

  function twoDigits(n) { return String(n).padStart(2, "0"); }

  // "dziś 09:30", "jutro 09:30", or "pt 11.12 09:30": 24-hour, the browser's (the centre's) time.
  function when(iso, now = new Date()) {
    const at = new Date(iso);
    const time = `${twoDigits(at.getHours())}:${twoDigits(at.getMinutes())}`;
    const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
    const days = Math.round((day(at) - day(now)) / 86400000);
    if (days === 0) return `dziś ${time}`;
    if (days === 1) return `jutro ${time}`;
    if (days === -1) return `wczoraj ${time}`;
    const weekday = at.toLocaleDateString("pl-PL", { weekday: "short" });
    return `${weekday} ${at.getDate()}.${twoDigits(at.getMonth() + 1)} ${time}`;
  }

  return { REASONS, OUTCOMES, when };
})();
