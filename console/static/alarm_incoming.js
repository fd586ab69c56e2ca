// The alarm header's "Połączenie przychodzące — czeka 0:42": a call to the centre's number waits
// in this alarm's queue for an operator (answered with "Odbierz" in the calls section). The wait
// counts up every second between reloads of the alarm.
"use strict";
const AlarmIncoming = (() => {
  const { el, duration, secondsSince } = Opaska;
  let waiting = [];
  let timer = null;

  function caller(call) {
    if (call.target === "unknown") return `nieznany numer ${call.number}`;
    return call.target_name ? `${call.target_name}, ${call.number}` : call.number;
  }

  function paint() {
    const node = document.getElementById("alarm-incoming");
    if (!node) return;
    if (!waiting.length) {
      node.hidden = true;
      node.replaceChildren();
      return;
    }
    const first = waiting[0];
    const answering = waiting.find((call) => call.status === "answering");
    const queued = waiting.filter((call) => call.status === "queued");
    // The longest-waiting caller's time; with nobody left waiting, who is being connected.
    const headline = queued.length
      ? `Połączenie przychodzące — czeka ${duration(secondsSince(queued[0].waiting_since || queued[0].created_at))}`
      : `Połączenie przychodzące — łączę: ${answering.staff_name || "operator"}`;
    node.replaceChildren(...[
      el("strong", {}, headline),
      el("span", { className: "incoming-caller" }, ` · ${caller(queued[0] || first)}`),
      queued.length > 1 ? el("span", { className: "incoming-more" }, ` · czekających: ${queued.length}`) : null,
      queued.length && answering ? el("span", { className: "incoming-more" }, ` · odbiera ${answering.staff_name || "operator"}`) : null,
    ].filter(Boolean));
    node.hidden = false;
  }

  // Called by alarm.js with every fresh detail; `calls` is CallView[] (inbound ones waiting here).
  function render(detail) {
    waiting = (detail.calls || [])
      .filter((call) => call.direction === "inbound" && (call.status === "queued" || call.status === "answering"))
      .sort((a, b) => (a.waiting_since || a.created_at).localeCompare(b.waiting_since || b.created_at));
    paint();
    if (waiting.length && timer === null) timer = setInterval(paint, 1000);
    if (!waiting.length && timer !== null) {
      clearInterval(timer);
      timer = null;
    }
  }

  return { render };
})();
