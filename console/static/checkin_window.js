// A resident's daily check-in window on their registry page: read by everyone, set by technicians,
// supervisors and administrators (everyone who opens this page).
"use strict";
{
  const { api, show } = Opaska;
  const $ = (id) => document.getElementById(id);

  function hhmm(value) { return value ? value.slice(0, 5) : ""; }

  // What was typed, as the API reads it: "8:00" → "08:00", "8.30" → "08:30"; anything else as typed
  // (the API names the field it cannot read).
  function typed(id) {
    const text = $(id).value.trim().replace(".", ":");
    const found = /^(\d{1,2}):(\d{2})$/.exec(text);
    if (!text) return null;
    return found ? `${found[1].padStart(2, "0")}:${found[2]}` : text;
  }

  function shown(window) {
    $("checkin-from").value = hhmm(window.from);
    $("checkin-until").value = hhmm(window.until);
    $("checkin-state").textContent = window.from
      ? `Meldunek codziennie między ${hhmm(window.from)} a ${hhmm(window.until)}.`
      : "Bez codziennego meldunku.";
  }

  async function save(body) {
    show("checkin-error", "");
    try { shown(await api("PUT", url(), body)); } catch (error) { show("checkin-error", error.message); }
  }

  function url() { return `/api/registry/residents/${$("resident-page").dataset.residentId}/checkin-window`; }

  document.addEventListener("DOMContentLoaded", async () => {
    $("checkin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      save({ from: typed("checkin-from"), until: typed("checkin-until") });
    });
    $("checkin-off").addEventListener("click", () => save({ from: null, until: null }));
    try { shown(await api("GET", url())); } catch (error) { show("checkin-error", error.message); }
  });
}
