// The shift's welfare calls on the queue page: calls overdue and due in the next 12 hours, the
// oldest first, each with the resident's phone and the coordinator's brief, and the three outcomes.
// "Nie odbiera" and "Potrzebna wizyta" ask for a few words (the second must say why: it raises an
// alarm). Refreshed every minute and after each outcome.
"use strict";
{
  const { api, el, show } = Opaska;
  const { REASONS, when } = Welfare;
  const $ = (id) => document.getElementById(id);
  const SHIFT_HOURS = 12;
  const REFRESH_MS = 60000;

  function phoneLink(number, label) {
    return el("div", {}, el("a", { className: "phone", href: `tel:${number.replace(/\s+/g, "")}` }, number),
      label ? el("span", { className: "muted small" }, ` ${label}`) : null);
  }

  function row(call, now) {
    const overdue = new Date(call.due_at).getTime() < now.getTime();
    const phones = [
      call.phone ? phoneLink(call.phone, "") : null,
      call.band_phone ? phoneLink(call.band_phone, "(opaska)") : null,
    ].filter(Boolean);
    const buttons = el("td", { className: "welfare-actions" },
      el("button", { type: "button", className: "primary", dataset: { outcome: "reached" } }, "Rozmawiałem — wszystko dobrze"),
      el("button", { type: "button", dataset: { outcome: "no_answer" } }, "Nie odbiera"),
      el("button", { type: "button", className: "danger-quiet", dataset: { outcome: "needs_visit" } }, "Potrzebna wizyta"));
    for (const button of buttons.querySelectorAll("button")) {
      button.addEventListener("click", () => record(call, button.dataset.outcome, button));
    }
    return el("tr", { className: overdue ? "overdue" : "", dataset: { callId: call.id } },
      el("td", { className: "due" }, when(call.due_at, now),
        overdue ? el("span", { className: "badge overdue" }, "zaległa") : null,
        call.attempt > 1 ? el("div", { className: "small" }, `${call.attempt}. próba`) : null),
      el("td", {}, el("strong", {}, call.resident_name),
        el("div", { className: "muted small" }, call.address || "–"),
        el("div", { className: "muted small" }, call.municipality)),
      el("td", {}, ...(phones.length ? phones : [el("span", { className: "muted" }, "brak numeru")])),
      el("td", {}, el("span", { className: "welfare-reason" }, REASONS[call.reason] || call.reason),
        call.note ? el("div", { className: "welfare-note" }, call.note) : null),
      buttons);
  }

  async function load() {
    try {
      const calls = await api("GET", `/api/welfare-calls/due?hours=${SHIFT_HOURS}`);
      const now = new Date();
      $("welfare-calls").tBodies[0].replaceChildren(...calls.map((call) => row(call, now)));
      $("welfare-calls").hidden = calls.length === 0;
      $("welfare-empty").hidden = calls.length > 0;
      $("welfare-count").textContent = calls.length ? `(${calls.length})` : "";
      show("welfare-error", "");
    } catch (error) {
      show("welfare-error", `Nie udało się wczytać rozmów kontrolnych: ${error.message}`);
    }
  }

  async function askNote(call, outcome) {
    if (outcome === "reached") return "";
    const visit = outcome === "needs_visit";
    const answer = await OpaskaDialog.ask({
      title: visit ? `Potrzebna wizyta: ${call.resident_name}` : `Nie odbiera: ${call.resident_name}`,
      message: visit
        ? "Zostanie zgłoszony alarm „Rozmowa kontrolna” — operator zorganizuje wizytę. Napisz, co się dzieje."
        : call.attempt > 1
          ? "To druga próba: zostanie zgłoszony alarm „Rozmowa kontrolna”, żeby ktoś sprawdził, co się dzieje."
          : "Ponowna próba pojawi się na liście za 30 minut.",
      fields: [{
        name: "note", label: visit ? "Dlaczego potrzebna wizyta" : "Uwagi (nieobowiązkowe)", type: "textarea",
        required: visit, requiredMessage: "Napisz, dlaczego potrzebna jest wizyta.",
      }],
      confirm: visit ? "Zgłoś potrzebę wizyty" : "Zapisz",
      danger: visit,
    });
    return answer === null ? null : answer.note;
  }

  function said(call, outcome, result) {
    if (result.alarm_id) return `${call.resident_name}: zgłoszono alarm „Rozmowa kontrolna” (nr ${result.alarm_id}).`;
    if (outcome === "no_answer") return `${call.resident_name}: nie odbiera — ponowna próba za 30 minut.`;
    return `${call.resident_name}: rozmowa zapisana.`;
  }

  async function record(call, outcome, button) {
    const note = await askNote(call, outcome);
    if (note === null) return;
    show("welfare-done", "");
    show("welfare-error", "");
    button.disabled = true;
    try {
      const result = await api("POST", `/api/welfare-calls/${call.id}/outcome`, { outcome, note });
      show("welfare-done", said(call, outcome, result));
    } catch (error) {
      show("welfare-error", error.status === 409 ? `${call.resident_name}: wynik tej rozmowy jest już zapisany.` : error.message);
    }
    await load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    if (!$("welfare")) return;
    load();
    setInterval(load, REFRESH_MS);
  });
}
