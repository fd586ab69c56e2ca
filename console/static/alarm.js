// One alarm: the resident card, the band, the contacts with every SMS and call sent to them, the
// timeline, and the operator's actions. Reloaded whenever the live feed says this alarm changed.
"use strict";
const { KINDS, STATUSES, OUTCOMES, api, el, show, clock, dateTime, duration,
  secondsSince, residentName, Live, setTitle } = Opaska;
const ALARM_ID = Number(document.getElementById("alarm").dataset.alarmId);
const ROLE = document.body.dataset.role;
const USER_ID = Number(document.body.dataset.userId);
const HANDLES_ALARMS = ROLE === "operator" || ROLE === "supervisor" || ROLE === "administrator";
let detail = null;
let plan = null;
let ladder = null;

function dl(target, pairs) {
  const node = document.getElementById(target);
  node.replaceChildren(...pairs.flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value ?? "–")]));
}

function render() {
  const a = detail.alarm;
  const open = a.status === "raised" || a.status === "claimed";
  setTitle(`${KINDS[a.kind] || a.kind}: ${residentName(a)} — opaska`);
  document.getElementById("alarm-title").replaceChildren(el("span", {},
    el("span", { className: `kind ${a.kind}` }, KINDS[a.kind] || a.kind), " ", residentName(a),
    a.is_test ? el("span", { className: "badge test" }, "TEST") : null));
  const state = [`${STATUSES[a.status] || a.status}`, `zgłoszony ${dateTime(a.raised_at)}`];
  if (a.status === "raised") state.push(`czeka ${duration(secondsSince(a.raised_at))}`);
  if (detail.claimed_by_name) state.push(`przyjął: ${detail.claimed_by_name}`);
  if (a.repeat_count) state.push(`naciśnięty ${a.repeat_count + 1} razy`);
  if (detail.overdue_at && a.status === "raised" && new Date(detail.overdue_at).getTime() <= Date.now()) state.push("PO CZASIE");
  if (detail.outcome) state.push(`wynik: ${OUTCOMES[detail.outcome] || detail.outcome}`);
  document.getElementById("alarm-state").textContent = state.join(" · ");
  document.getElementById("alarm").dataset.status = a.status;

  const mine = a.claimed_by === USER_ID;
  // A technician closes their own installation tests (with a test outcome), nothing else.
  const closes = HANDLES_ALARMS || (ROLE === "technician" && a.is_test);
  document.getElementById("claim").hidden = !HANDLES_ALARMS || a.status !== "raised";
  document.getElementById("release").hidden = !HANDLES_ALARMS || a.status !== "claimed" || !(mine || ROLE !== "operator");
  document.getElementById("escalate").hidden = !HANDLES_ALARMS || !open || a.is_test;
  document.getElementById("close-alarm").hidden = !closes || !open;
  document.getElementById("keys").hidden = !HANDLES_ALARMS || !open;
  for (const id of ["resident-call", "note-form"]) {
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
    // No resident: a band nobody wears yet, or a call from a number nobody in the registry has.
    dl("resident", [["", detail.band ? "Opaska nie jest przypisana do mieszkańca."
      : `Nieznany rozmówca${a.caller_number ? `: ${a.caller_number}` : ""} — nie ma go w rejestrze.`]]);
  }
  document.getElementById("show-medical").hidden = !HANDLES_ALARMS || !r || !r.has_medical_notes;
  document.getElementById("show-key-safe").hidden = !HANDLES_ALARMS || !r || !r.has_key_safe_code;

  AlarmBand.render(detail);
  AlarmIncoming.render(detail);

  AlarmContacts.render(detail, { canAct: HANDLES_ALARMS && open && !a.is_test, onNotify: notify });
  AlarmCalls.render(detail, { canAct: HANDLES_ALARMS && open });
  AlarmPlan.render(plan, { canAct: HANDLES_ALARMS && open, onTick: tickStep });
  AlarmLadder.render(ladder, detail, { canAct: HANDLES_ALARMS && open, send: ladderRung });

  document.getElementById("timeline").replaceChildren(...[...detail.timeline].reverse().map((entry) =>
    el("li", { className: `t-${entry.type}` }, el("time", { dateTime: entry.at }, clock(entry.at)), " ", entry.text)));
}

async function load() {
  try {
    [detail, plan, ladder] = await Promise.all([api("GET", `/api/alarms/${ALARM_ID}`),
      api("GET", `/api/alarms/${ALARM_ID}/plan`), api("GET", `/api/alarms/${ALARM_ID}/ladder`)]);
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
        ? `Alarm przyjął już ${who}.`
        // The lifecycle's refusals ("alarm 5 cannot be …") mean the alarm moved on; others say why in Polish.
        : error.message.startsWith("alarm ") ? `Nie można: alarm zmienił się w międzyczasie (${error.message}).`
          : `Nie można: ${error.message}.`);
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
// Giving a life alarm back rings it again for everyone: asked first, never on one stray click.
document.getElementById("release").addEventListener("click", async () => {
  if (!await OpaskaDialog.confirmed("Oddać alarm do kolejki?", "Alarm znów zadzwoni u wszystkich operatorów i będzie czekał na przyjęcie.", { confirm: "Oddaj do kolejki" })) return;
  act("POST", `/api/alarms/${ALARM_ID}/release`, {}, "Alarm oddany do kolejki.").catch(() => {});
});
document.getElementById("escalate").addEventListener("click", async () => {
  const answer = await OpaskaDialog.ask({
    title: "Przekaż alarm koordynatorowi",
    message: "Koordynator dostanie powiadomienie; alarm zostaje u Ciebie.",
    fields: [{ name: "note", label: "Dlaczego? (krótko, trafi do historii)", type: "textarea" }],
    confirm: "Przekaż",
  });
  if (answer === null) return;
  act("POST", `/api/alarms/${ALARM_ID}/escalate`, { note: answer.note }, "Przekazano koordynatorowi.").catch(() => {});
});

// Outcome codes in the order of the console's list (most common first), unknown ones last.
function byListOrder(codes) {
  const order = Object.keys(OUTCOMES);
  const rank = (code) => (order.includes(code) ? order.indexOf(code) : order.length);
  return [...codes].sort((a, b) => rank(a) - rank(b));
}

// Closing: an outcome code from the list (required) and what was done, in one dialog.
async function closeAlarm() {
  if (!detail || document.getElementById("close-alarm").hidden) return;
  const lifeAlarm = Opaska.LIFE_KINDS.has(detail.alarm.kind) && !detail.alarm.is_test;
  const answer = await OpaskaDialog.ask({
    title: "Zamknij alarm",
    message: `${KINDS[detail.alarm.kind] || detail.alarm.kind}: ${residentName(detail.alarm)}`,
    fields: [
      { name: "outcome", label: "Wynik (wymagany)", type: "select", required: true, placeholder: "— wybierz wynik —",
        requiredMessage: "Wybierz wynik — bez niego alarmu nie można zamknąć.",
        options: byListOrder(detail.outcomes).map((code) => [code, OUTCOMES[code] || code]) },
      // A life alarm's close says what was done (the lifecycle refuses it without); others may.
      lifeAlarm
        ? { name: "note", label: "Co zrobiono (wymagane)", type: "textarea", required: true,
          requiredMessage: "Napisz krótko, co zrobiono — alarm o życie zamyka się z opisem." }
        : { name: "note", label: "Co zrobiono (opcjonalnie)", type: "textarea" },
    ],
    confirm: "Zamknij alarm",
  });
  if (answer === null) return;
  // A test alarm is closed as the technician's band page closes it (claimed first if nobody has it).
  const url = detail.alarm.is_test ? `/api/installation-tests/alarms/${ALARM_ID}/close` : `/api/alarms/${ALARM_ID}/resolve`;
  act("POST", url, { outcome: answer.outcome, note: answer.note }, "Alarm zamknięty.").catch(() => {});
}
document.getElementById("close-alarm").addEventListener("click", closeAlarm);

const RUNG_DONE = {
  started: "Zapisano brak kontaktu.", going: "Zapisano: jedzie.", nobody: "Zapisano: nikt nie może pojechać.",
  dispatched: "Zapisano wezwanie służb.", arrived: "Zapisano: pomoc na miejscu.",
};

function ladderRung(body) {
  return act("POST", `/api/alarms/${ALARM_ID}/ladder`, body, RUNG_DONE[body.rung]).catch(() => {});
}

function tickStep(step, status, outcome) {
  const said = status === "done" ? "zrobiony" : "pominięty";
  return act("POST", `/api/alarms/${ALARM_ID}/plan/steps/${step.id}`, { status, outcome },
    `Krok ${step.position} ${said}.`);
}

async function notify(contact, channel) {
  if (channel === "responder_link") {
    if (!await OpaskaDialog.confirmed(`Wysłać link dla jadącego do: ${contact.name}?`,
      `SMS na numer ${contact.phone} z linkiem: adres, jak wejść, kod do sejfu i przyciski „Jadę” / „Jestem na miejscu”. Link działa do zamknięcia alarmu.`,
      { confirm: "Wyślij link" })) return;
    act("POST", `/api/alarms/${ALARM_ID}/responder-link`, { contact_id: contact.id }, `Link dla jadącego do: ${contact.name} — zlecony.`).catch(() => {});
    return;
  }
  const title = channel === "sms" ? `Wysłać SMS do: ${contact.name}?` : `Komunikat głosowy do: ${contact.name}?`;
  const message = channel === "sms"
    ? `Wiadomość o alarmie pójdzie na numer ${contact.phone}, z prośbą o odpowiedź TAK/NIE.`
    : `Automatyczne połączenie na numer ${contact.phone} z komunikatem o alarmie i prośbą o klawisz 1 lub 2.`;
  if (!await OpaskaDialog.confirmed(title, message, { confirm: channel === "sms" ? "Wyślij SMS" : "Zadzwoń z komunikatem" })) return;
  act("POST", `/api/alarms/${ALARM_ID}/notify`, { contact_id: contact.id, channel }, channel === "sms" ? `SMS do: ${contact.name} — zlecony.` : `Komunikat głosowy do: ${contact.name} — zlecony.`).catch(() => {});
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

// The keyboard: P claim, N note, Z close, K back to the queue (not while typing in a field).
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  if (event.target.closest("input, textarea, select, dialog")) return;
  const key = event.key.toLowerCase();
  if (key === "p" && !document.getElementById("claim").hidden) document.getElementById("claim").click();
  else if (key === "n") { event.preventDefault(); document.getElementById("note").focus(); }
  else if (key === "z") { event.preventDefault(); closeAlarm(); }
  else if (key === "k") location.href = "/";
  else return;
});

let reloadTimer = null;
new Live({
  onSnapshot() { load(); },
  onEvent(message) {
    if (message.alarm && message.alarm.id === ALARM_ID) {
      clearTimeout(reloadTimer);
      reloadTimer = setTimeout(load, 150);
    }
  },
});
setInterval(() => { if (detail && detail.alarm.status === "raised") render(); }, 1000);
