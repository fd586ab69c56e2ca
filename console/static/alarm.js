// One alarm: the resident card, the band, the contacts with every SMS and call sent to them, the
// timeline, and the operator's actions. Reloaded whenever the live feed says this alarm changed.
"use strict";
const { KINDS, STATUSES, OUTCOMES, api, el, show, clock, dateTime, duration,
  secondsSince, residentName, Live } = Opaska;
const ALARM_ID = Number(document.getElementById("alarm").dataset.alarmId);
const ROLE = document.body.dataset.role;
const USER_ID = Number(document.body.dataset.userId);
const HANDLES_ALARMS = ROLE === "operator" || ROLE === "supervisor" || ROLE === "administrator";
let detail = null;

function dl(target, pairs) {
  const node = document.getElementById(target);
  node.replaceChildren(...pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value ?? "–")]));
}

function render() {
  const a = detail.alarm;
  const open = a.status === "raised" || a.status === "claimed";
  document.title = `${KINDS[a.kind] || a.kind}: ${residentName(a)} — opaska`;
  document.getElementById("alarm-title").replaceChildren(el("span", {},
    el("span", { className: `kind ${a.kind}` }, KINDS[a.kind] || a.kind), " ", residentName(a),
    a.is_test ? el("span", { className: "badge test" }, "TEST") : null));
  const state = [`${STATUSES[a.status] || a.status}`, `zgłoszony ${dateTime(a.raised_at)}`];
  if (a.status === "raised") state.push(`czeka ${duration(secondsSince(a.raised_at))}`);
  if (detail.claimed_by_name) state.push(`przyjął: ${detail.claimed_by_name}`);
  if (a.repeat_count) state.push(`naciśnięty ${a.repeat_count + 1} razy`);
  if (detail.overdue_at && a.status === "raised") state.push("PO CZASIE");
  if (detail.outcome) state.push(`wynik: ${OUTCOMES[detail.outcome] || detail.outcome}`);
  document.getElementById("alarm-state").textContent = state.join(" · ");
  document.getElementById("alarm").dataset.status = a.status;

  const mine = a.claimed_by === USER_ID;
  document.getElementById("claim").hidden = !HANDLES_ALARMS || a.status !== "raised";
  document.getElementById("release").hidden = !HANDLES_ALARMS || a.status !== "claimed" || !(mine || ROLE !== "operator");
  document.getElementById("escalate").hidden = !HANDLES_ALARMS || !open;
  for (const id of ["resident-call", "note-form", "resolve-form"]) {
    for (const control of document.getElementById(id).elements) control.disabled = !HANDLES_ALARMS || (id !== "note-form" && !open);
  }

  const r = detail.resident;
  if (r) {
    dl("resident", [
      ["Imię i nazwisko", `${r.first_name} ${r.last_name}`], ["Wiek", r.age !== null ? `${r.age} lat` : null],
      ["Adres", r.address], ["Telefon", r.phone], ["Jak wejść", r.access_notes || "—"],
      ["Język", r.language === "pl" ? "polski" : r.language],
    ]);
  } else {
    dl("resident", [["", "Opaska nie jest przypisana do mieszkańca."]]);
  }
  document.getElementById("show-medical").hidden = !HANDLES_ALARMS || !r || !r.has_medical_notes;
  document.getElementById("show-key-safe").hidden = !HANDLES_ALARMS || !r || !r.has_key_safe_code;

  AlarmBand.render(detail);

  AlarmContacts.render(detail, { canAct: HANDLES_ALARMS && open, onNotify: notify });

  const select = document.getElementById("outcome");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, "— wybierz wynik —"),
    ...detail.outcomes.map((code) => el("option", { value: code }, OUTCOMES[code] || code)));
  select.value = chosen;

  document.getElementById("timeline").replaceChildren(...[...detail.timeline].reverse().map((entry) =>
    el("li", { className: `t-${entry.type}` }, el("time", { dateTime: entry.at }, clock(entry.at)), " ", entry.text)));
}

async function load() {
  try {
    detail = await api("GET", `/api/alarms/${ALARM_ID}`);
    show("load-error", "");
    render();
  } catch (error) {
    show("load-error", error.status === 403 ? "Ten alarm należy do gminy, której nie obsługujesz." :
      error.status === 404 ? "Nie ma takiego alarmu." : `Nie udało się wczytać alarmu: ${error.message}`);
  }
}

async function act(method, url, body, done) {
  show("action-error", "");
  show("action-done", "");
  try {
    const result = await api(method, url, body);
    if (done) show("action-done", done);
    await load();
    return result;
  } catch (error) {
    if (error.status === 409) {
      await load();
      const who = detail && detail.claimed_by_name;
      show("action-error", who && detail.alarm.claimed_by !== USER_ID
        ? `Alarm przyjął już ${who}.` : `Nie można: alarm zmienił się w międzyczasie (${error.message}).`);
    } else if (error.status === 403) {
      show("action-error", "Nie masz uprawnień do tej czynności.");
    } else if (error.status === 422) {
      show("action-error", `Popraw formularz: ${error.message}`);
    } else {
      show("action-error", error.message);
    }
    throw error;
  }
}

document.getElementById("claim").addEventListener("click", () => act("POST", `/api/alarms/${ALARM_ID}/claim`, undefined, "Alarm przyjęty.").catch(() => {}));
document.getElementById("release").addEventListener("click", () => act("POST", `/api/alarms/${ALARM_ID}/release`, {}, "Alarm oddany do kolejki.").catch(() => {}));
document.getElementById("escalate").addEventListener("click", () => {
  const note = prompt("Dlaczego przekazujesz alarm koordynatorowi?", "") ?? null;
  if (note === null) return;
  act("POST", `/api/alarms/${ALARM_ID}/escalate`, { note }, "Przekazano koordynatorowi.").catch(() => {});
});

async function notify(contact, channel) {
  const what = channel === "sms" ? "SMS" : "połączenie";
  if (!confirm(`Wysłać ${what} do: ${contact.name} (${contact.phone})?`)) return;
  act("POST", `/api/alarms/${ALARM_ID}/notify`, { contact_id: contact.id, channel }, `${what} do ${contact.name} zlecone.`).catch(() => {});
}

document.getElementById("note-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const note = event.target.note.value.trim();
  if (!note) return;
  act("POST", `/api/alarms/${ALARM_ID}/notes`, { note }, "Notatka dodana.").then(() => { event.target.reset(); }, () => {});
});

document.getElementById("resident-call").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  if (!form.outcome.value) { show("action-error", "Wybierz wynik połączenia."); return; }
  act("POST", `/api/alarms/${ALARM_ID}/resident-calls`, { outcome: form.outcome.value, note: form.note.value }, "Rozmowa zapisana.")
    .then(() => form.reset(), () => {});
});

document.getElementById("outcome").addEventListener("change", () => show("outcome-error", ""));
document.getElementById("resolve-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  show("outcome-error", "");
  show("note-error", "");
  if (!form.outcome.value) { show("outcome-error", "Wybierz wynik — bez niego alarmu nie można zamknąć."); return; }
  act("POST", `/api/alarms/${ALARM_ID}/resolve`, { outcome: form.outcome.value, note: form.note.value }, "Alarm zamknięty.")
    .catch((error) => {
      for (const item of (error.data && Array.isArray(error.data.detail)) ? error.data.detail : []) {
        const field = (item.loc || [])[1];
        if (field === "outcome") show("outcome-error", item.msg);
        if (field === "note") show("note-error", item.msg);
      }
    });
});

document.getElementById("show-medical").addEventListener("click", async () => {
  try {
    const notes = await act("GET", `/api/alarms/${ALARM_ID}/medical`);
    const pre = document.getElementById("medical");
    pre.textContent = notes.medical_notes || "(brak)";
    pre.hidden = false;
  } catch (error) { /* shown */ }
});
document.getElementById("show-key-safe").addEventListener("click", async () => {
  try {
    const safe = await act("GET", `/api/alarms/${ALARM_ID}/key-safe`);
    const node = document.getElementById("key-safe");
    node.textContent = `Kod sejfu: ${safe.code}`;
    node.hidden = false;
  } catch (error) { /* shown */ }
});

let reloadTimer = null;
new Live({
  badge: "connection",
  onSnapshot() { load(); },
  onEvent(message) {
    if (message.alarm && message.alarm.id === ALARM_ID) {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(load, 150);
    }
  },
});
setInterval(() => { if (detail && detail.alarm.status === "raised") render(); }, 1000);
