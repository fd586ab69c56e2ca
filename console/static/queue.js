// The alarm queue: open alarms live, most urgent first, then oldest first; ages counting every
// second and coloured by the answer-time targets; a sound while a life alarm waits unclaimed.
"use strict";
const { KINDS, STATUSES, el, secondsSince, duration, ageClass, residentName, Live } = Opaska;
const LIFE_KINDS = new Set(["sos", "fall"]);
const alarms = new Map();
let knownIds = null; // ids seen so far; null until the first snapshot (nothing is "new" before it)

// ---- sound: browsers allow it only after a click on the page, so the operator starts each shift
// with one click; after that a short alert repeats while any life alarm waits unclaimed.
const sound = { context: null, on: false, timer: null };
const soundButton = document.getElementById("sound");

function setSound(on) {
  sound.on = on;
  soundButton.classList.toggle("off", !on);
  soundButton.setAttribute("aria-pressed", String(on));
  soundButton.textContent = on ? "Dźwięk włączony (kliknij, aby wyciszyć)" : "Dźwięk wyłączony — kliknij, aby włączyć";
}

soundButton.addEventListener("click", async () => {
  if (!sound.context) sound.context = new AudioContext();
  await sound.context.resume();
  setSound(!sound.on);
  if (sound.on) beep(1);
  ring();
});

function beep(times) {
  if (!sound.on || !sound.context) return;
  const start = sound.context.currentTime;
  for (let i = 0; i < times; i++) {
    const tone = sound.context.createOscillator();
    const gain = sound.context.createGain();
    tone.type = "square";
    tone.frequency.value = i % 2 ? 660 : 880;
    gain.gain.value = 0.15;
    tone.connect(gain).connect(sound.context.destination);
    tone.start(start + i * 0.3);
    tone.stop(start + i * 0.3 + 0.2);
  }
}

function waitingLifeAlarms() {
  return [...alarms.values()].filter((a) => LIFE_KINDS.has(a.kind) && a.status === "raised");
}

function ring() {
  const waiting = waitingLifeAlarms().length > 0;
  document.body.classList.toggle("alerting", waiting);
  if (waiting && sound.on && !sound.timer) {
    beep(3);
    sound.timer = setInterval(() => beep(3), 4000);
  } else if ((!waiting || !sound.on) && sound.timer) {
    clearInterval(sound.timer);
    sound.timer = null;
  }
}

// ---- the tables

function isOpen(alarm) {
  return alarm.status === "raised" || alarm.status === "claimed";
}

function sorted(filter) {
  return [...alarms.values()].filter((a) => isOpen(a) && filter(a))
    .sort((a, b) => a.priority - b.priority || a.raised_at.localeCompare(b.raised_at));
}

function row(alarm, now) {
  const waited = secondsSince(alarm.raised_at, now);
  const claimed = alarm.status === "claimed";
  const ageCell = el("td", { className: `age ${claimed ? "" : ageClass(waited)}` },
    claimed ? `przyjęty po ${duration(secondsSince(alarm.raised_at, new Date(alarm.claimed_at).getTime()))}` : duration(waited));
  const kind = el("td", { className: "kind" }, KINDS[alarm.kind] || alarm.kind,
    alarm.is_test ? el("span", { className: "badge test" }, "TEST") : null,
    alarm.overdue_at && !claimed ? el("span", { className: "badge overdue" }, "po czasie") : null);
  const resident = el("td", {}, el("a", { href: `/alarms/${alarm.id}` }, residentName(alarm)),
    alarm.resident ? el("div", { className: "muted small" }, alarm.resident.address) : null);
  const last = LIFE_KINDS.has(alarm.kind)
    ? el("td", { className: alarm.repeat_count ? "repeats" : "" }, alarm.repeat_count ? `×${alarm.repeat_count + 1}` : "–")
    : el("td", {}, alarm.band_serial);
  const tr = el("tr", { className: `${alarm.status} ${LIFE_KINDS.has(alarm.kind) ? "life" : "technical"}`, dataset: { alarmId: alarm.id } },
    kind, resident, el("td", {}, alarm.municipality || "–"), ageCell,
    el("td", {}, alarm.claimed_by_name || (claimed ? "operator" : "—")), last,
    el("td", { className: "status" }, STATUSES[alarm.status] || alarm.status));
  tr.addEventListener("click", (event) => {
    if (event.target.tagName !== "A") location.href = `/alarms/${alarm.id}`;
  });
  return tr;
}

function render() {
  const now = Date.now();
  const life = sorted((a) => LIFE_KINDS.has(a.kind));
  const technical = sorted((a) => !LIFE_KINDS.has(a.kind));
  document.querySelector("#queue tbody").replaceChildren(...life.map((a) => row(a, now)));
  document.querySelector("#technical tbody").replaceChildren(...technical.map((a) => row(a, now)));
  document.getElementById("empty").hidden = life.length > 0;
  document.getElementById("technical-empty").hidden = technical.length > 0;
  document.getElementById("life-count").textContent = life.length ? `(${life.length})` : "";
  document.getElementById("technical-count").textContent = technical.length ? `(${technical.length})` : "";
  const waiting = waitingLifeAlarms().length;
  document.title = waiting ? `(${waiting}) ALARM — opaska` : life.length ? `(${life.length}) opaska` : "opaska — kolejka";
  ring();
}

function noticeNew(alarm) {
  if (knownIds === null || knownIds.has(alarm.id)) return;
  knownIds.add(alarm.id);
  if (LIFE_KINDS.has(alarm.kind) && alarm.status === "raised") beep(3);
}

new Live({
  badge: "connection",
  onSnapshot(list) {
    alarms.clear();
    for (const alarm of list) alarms.set(alarm.id, alarm);
    if (knownIds === null) knownIds = new Set(list.map((a) => a.id));
    else for (const alarm of list) noticeNew(alarm);
    render();
  },
  onEvent(message) {
    if (!message.alarm) return;
    alarms.set(message.alarm.id, message.alarm);
    noticeNew(message.alarm);
    render();
  },
});
setSound(false);
setInterval(render, 1000);
