// The alarm queue: open alarms live, most urgent first, then oldest first; ages counting every
// second and coloured by the answer-time targets. The sound and the count of unclaimed alarms are
// the alarm bar's (watch.js), on every page. Installation tests are the technicians': operators see
// only their count in the bar. The keyboard: arrows or J/K move, Enter opens, P claims and opens.
"use strict";
const { KINDS, STATUSES, LIFE_KINDS, api, el, secondsSince, duration, ageClass, residentName, Live, setTitle } = Opaska;
const ROLE = document.body.dataset.role;
const alarms = new Map();
let selected = null; // the alarm id the keyboard is on

// ---- the tables

function isOpen(alarm) {
  return alarm.status === "raised" || alarm.status === "claimed";
}

function sorted(filter) {
  const tests = ROLE === "technician";
  return [...alarms.values()].filter((a) => isOpen(a) && a.is_test === tests && filter(a))
    // Waiting alarms above those someone already has; then the most urgent, then the oldest.
    .sort((a, b) => (a.status === "raised" ? 0 : 1) - (b.status === "raised" ? 0 : 1)
      || a.priority - b.priority || a.raised_at.localeCompare(b.raised_at));
}

function row(alarm, now) {
  const waited = secondsSince(alarm.raised_at, now);
  const claimed = alarm.status === "claimed";
  const ageCell = el("td", { className: `age ${claimed ? "" : ageClass(waited)}` },
    claimed ? `przyjęty po ${duration(secondsSince(alarm.raised_at, new Date(alarm.claimed_at).getTime()))}` : duration(waited));
  const kind = el("td", { className: "kind" }, KINDS[alarm.kind] || alarm.kind,
    alarm.is_test ? el("span", { className: "badge test" }, "TEST") : null,
    alarm.overdue_at && !claimed && new Date(alarm.overdue_at).getTime() <= now ? el("span", { className: "badge overdue" }, "po czasie") : null);
  const resident = el("td", {}, el("a", { href: `/alarms/${alarm.id}` }, residentName(alarm)),
    alarm.resident ? el("div", { className: "muted small" }, alarm.resident.address) : null);
  const last = LIFE_KINDS.has(alarm.kind)
    ? el("td", { className: alarm.repeat_count ? "repeats" : "" }, alarm.repeat_count ? `×${alarm.repeat_count + 1}` : "–")
    : el("td", {}, alarm.band_serial);
  const tr = el("tr", { className: `${alarm.status} ${LIFE_KINDS.has(alarm.kind) ? "life" : "technical"}${alarm.id === selected ? " selected" : ""}`, dataset: { alarmId: alarm.id }, tabIndex: -1 },
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
  setTitle(ROLE === "technician" ? "opaska — testy instalacyjne" : "opaska — kolejka");
}

// ---- the keyboard

function visibleIds() {
  return [...document.querySelectorAll("#queue tbody tr, #technical tbody tr")].map((tr) => Number(tr.dataset.alarmId));
}

function select(id) {
  selected = id;
  render();
  const tr = document.querySelector(`tr[data-alarm-id="${id}"]`);
  if (tr) tr.scrollIntoView({ block: "nearest" });
}

async function claimAndOpen(id) {
  try {
    await api("POST", `/api/alarms/${id}/claim`);
  } catch (error) {
    // Taken by someone else meanwhile, or not claimable: the alarm page says by whom.
  }
  location.href = `/alarms/${id}`;
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  if (event.target.closest("input, textarea, select, dialog")) return;
  const ids = visibleIds();
  if (!ids.length) return;
  const at = ids.indexOf(selected);
  const key = event.key;
  if (key === "ArrowDown" || key === "j") select(ids[at < 0 ? 0 : Math.min(at + 1, ids.length - 1)]);
  else if (key === "ArrowUp" || key === "k") select(ids[at < 0 ? 0 : Math.max(at - 1, 0)]);
  else if (key === "Enter" && at >= 0) location.href = `/alarms/${selected}`;
  else if ((key === "p" || key === "P") && at >= 0 && ROLE !== "technician") claimAndOpen(selected);
  else return;
  event.preventDefault();
});

new Live({
  onSnapshot(list) {
    alarms.clear();
    for (const alarm of list) alarms.set(alarm.id, alarm);
    render();
  },
  onEvent(message) {
    if (!message.alarm) return;
    alarms.set(message.alarm.id, message.alarm);
    render();
  },
});
setInterval(render, 1000);
