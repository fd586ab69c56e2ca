// Planning welfare calls: on a resident's registry page, their calls (planned, then the latest
// done) and a form to plan one; on the registry page, a supervisor's form planning one call for
// every active resident of a municipality. The day and hour are the municipality's local time.
"use strict";
{
  const { api, el, show, dateTime } = Opaska;
  const { REASONS, OUTCOMES, when } = Welfare;
  const $ = (id) => document.getElementById(id);

  // "9:30" or "9.30" → "09:30"; anything else as typed (the API names the field it cannot read).
  function typedTime(text) {
    const found = /^(\d{1,2})[:.](\d{2})$/.exec(text.trim());
    return found ? `${found[1].padStart(2, "0")}:${found[2]}` : text.trim();
  }

  function pad(n) { return String(n).padStart(2, "0"); }

  // A day as typed (a text field, not the browser's date picker, whose format follows the
  // computer's settings and may read 12/04 as April): "5.12.2026", "05.12", "2026-12-05" →
  // "2026-12-05"; "5.12" is the next 5 December from today. Null when it cannot be read.
  function typedDay(text) {
    const value = text.trim();
    const iso = /^(\d{4})-(\d{1,2})-(\d{1,2})$/.exec(value);
    if (iso) return `${iso[1]}-${pad(iso[2])}-${pad(iso[3])}`;
    const found = /^(\d{1,2})[.\/-](\d{1,2})(?:[.\/-](\d{4}))?\.?$/.exec(value);
    if (!found) return null;
    const today = new Date();
    let year = found[3] ? Number(found[3]) : today.getFullYear();
    const day = Number(found[1]), month = Number(found[2]);
    if (!found[3] && new Date(year, month - 1, day) < new Date(today.getFullYear(), today.getMonth(), today.getDate())) year += 1;
    const date = new Date(year, month - 1, day);
    if (date.getMonth() !== month - 1 || date.getDate() !== day) return null;
    return `${year}-${pad(month)}-${pad(day)}`;
  }

  function shownDay(date) { return `${pad(date.getDate())}.${pad(date.getMonth() + 1)}.${date.getFullYear()}`; }

  // The form's call: the time has no zone, so the server reads it in the municipality's time.
  function planned() {
    const day = typedDay($("welfare-day").value);
    const time = typedTime($("welfare-time").value);
    if (!day) throw new Error("Podaj dzień rozmowy, np. 05.12.2026.");
    if (!/^\d{2}:\d{2}$/.test(time)) throw new Error("Podaj godzinę w formie 24-godzinnej, np. 10:00.");
    return {
      due_at: `${day}T${time}`,
      reason: $("welfare-reason").value,
      note: $("welfare-note").value.trim(),
      repeat_weekly: $("welfare-weekly").checked,
    };
  }

  function errorText(error) {
    return typeof Registry !== "undefined" ? Registry.errorText(error) : error.message;
  }

  function tomorrow() { return shownDay(new Date(Date.now() + 86400000)); }

  function outcomeCell(call) {
    if (!call.done_at) return el("td", { className: "muted" }, call.attempt > 1 ? `zaplanowana (${call.attempt}. próba)` : "zaplanowana");
    return el("td", {}, el("strong", {}, OUTCOMES[call.outcome] || call.outcome),
      el("div", { className: "muted small" }, `${dateTime(call.done_at)}${call.done_by_name ? ` — ${call.done_by_name}` : ""}`),
      call.outcome_note ? el("div", { className: "small" }, `„${call.outcome_note}”`) : null,
      call.alarm_id ? el("div", { className: "small" }, el("a", { href: `/alarms/${call.alarm_id}` }, `alarm nr ${call.alarm_id}`)) : null);
  }

  async function startResident() {
    const resident = $("resident-page").dataset.residentId;
    const url = `/api/registry/residents/${resident}/welfare-calls`;

    async function load() {
      const calls = await api("GET", url);
      $("welfare-list").tBodies[0].replaceChildren(...calls.map((call) => {
        const remove = call.done_at ? el("td", {}) : el("td", {}, el("button", { type: "button", className: "quiet" }, "Usuń"));
        const button = remove.querySelector("button");
        if (button) button.addEventListener("click", () => cancel(call, load));
        return el("tr", { className: call.done_at ? "inactive" : "", dataset: { callId: call.id } },
          el("td", {}, when(call.due_at), call.repeat_weekly ? el("div", { className: "muted small" }, "co tydzień") : null),
          el("td", {}, REASONS[call.reason] || call.reason),
          el("td", {}, call.note || "–"),
          outcomeCell(call), remove);
      }));
      $("welfare-list").hidden = calls.length === 0;
      $("welfare-list-empty").hidden = calls.length > 0;
    }

    $("welfare-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      show("welfare-error", "");
      show("welfare-done", "");
      try {
        const call = await api("POST", url, planned());
        show("welfare-done", `Rozmowa zaplanowana: ${when(call.due_at)}.`);
        $("welfare-note").value = "";
        await load();
      } catch (error) {
        show("welfare-error", errorText(error));
      }
    });
    $("welfare-day").value = tomorrow();
    try { await load(); } catch (error) { show("welfare-error", errorText(error)); }
  }

  async function cancel(call, reload) {
    if (!await OpaskaDialog.confirmed("Usunąć rozmowę?", `Rozmowa ${when(call.due_at)} (${REASONS[call.reason] || call.reason}) zniknie z listy operatorów.`, { confirm: "Usuń", danger: true })) return;
    show("welfare-error", "");
    try {
      await api("DELETE", `/api/welfare-calls/${call.id}`);
      show("welfare-done", "Rozmowa usunięta.");
    } catch (error) {
      show("welfare-error", errorText(error));
    }
    await reload();
  }

  function startBulk() {
    const listed = Registry.municipalities($("welfare-municipality"));
    $("welfare-bulk-toggle").addEventListener("click", async () => {
      $("welfare-bulk").hidden = !$("welfare-bulk").hidden;
      if (!$("welfare-bulk").hidden) await listed;
    });
    $("welfare-day").value = tomorrow();
    $("welfare-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      show("welfare-error", "");
      show("welfare-done", "");
      try {
        const body = planned();
        const municipality = $("welfare-municipality");
        const name = municipality.selectedOptions.length ? municipality.selectedOptions[0].textContent : "";
        const result = await api("POST", `/api/registry/municipalities/${municipality.value}/welfare-calls`, body);
        show("welfare-done", `Zaplanowano rozmów: ${result.created} (${name}, ${when(`${body.due_at}:00`)}).`);
      } catch (error) {
        show("welfare-error", errorText(error));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    if ($("welfare-card")) startResident();
    else if ($("welfare-bulk")) startBulk();
  });
}
