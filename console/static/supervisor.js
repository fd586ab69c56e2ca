// The supervisor's overview: open and overdue alarms, who is on shift, today's answer times.
"use strict";
const { KINDS, STATUSES, api, el, show, secondsSince, duration, ageClass, residentName, dateTime } = Opaska;

const ROLES = { operator: "operator", supervisor: "koordynator", technician: "technik", administrator: "administrator" };

function percent(share) {
  return share === null || share === undefined ? "–" : `${(share * 100).toFixed(1).replace(".", ",")}%`;
}

async function refresh() {
  let data;
  try {
    data = await api("GET", "/api/supervisor/overview");
    show("load-error", "");
  } catch (error) {
    show("load-error", `Nie udało się wczytać przeglądu: ${error.message}`);
    return;
  }
  const problems = document.getElementById("platform-problems");
  problems.hidden = data.platform_problems.length === 0;
  problems.replaceChildren(...data.platform_problems.map((p) => el("p", { dataset: { kind: p.kind } },
    el("strong", {}, "Awaria platformy: "), p.message,
    p.since ? el("span", { className: "muted" }, ` (od ${new Date(p.since).toLocaleTimeString("pl-PL")})`) : null)));
  const t = data.answer_times;
  document.getElementById("open-count").textContent = String(data.open_alarms.length);
  document.getElementById("overdue-count").textContent = String(data.overdue_count);
  document.getElementById("within-60").textContent = percent(t.share_within_60s);
  document.getElementById("within-180").textContent = percent(t.share_within_180s);
  document.getElementById("median").textContent = t.median_claim_s === null ? "–" : duration(Math.round(t.median_claim_s));
  document.getElementById("within-60").className = `value ${t.share_within_60s !== null && t.share_within_60s < 0.975 ? "miss" : ""}`;
  document.getElementById("within-180").className = `value ${t.share_within_180s !== null && t.share_within_180s < 0.99 ? "miss" : ""}`;
  document.querySelector("#open-alarms tbody").replaceChildren(...data.open_alarms.map(({ alarm, overdue }) => {
    const waited = secondsSince(alarm.raised_at);
    return el("tr", { className: overdue ? "overdue" : "", dataset: { alarmId: alarm.id } },
      el("td", { className: "kind" }, KINDS[alarm.kind] || alarm.kind, overdue ? el("span", { className: "badge overdue" }, "po czasie") : null),
      el("td", {}, el("a", { href: `/alarms/${alarm.id}` }, residentName(alarm))),
      el("td", {}, alarm.municipality || "–"),
      // A claimed alarm no longer waits: how long it waited, as the queue says it.
      alarm.status === "raised"
        ? el("td", { className: ageClass(waited) }, duration(waited))
        : el("td", {}, `przyjęty po ${duration(secondsSince(alarm.raised_at, new Date(alarm.claimed_at).getTime()))}`),
      el("td", {}, alarm.claimed_by_name || "—"),
      el("td", {}, STATUSES[alarm.status] || alarm.status));
  }));
  document.getElementById("online").replaceChildren(...(data.operators_online.length
    ? data.operators_online.map((p) => el("li", {}, `${p.full_name} (${ROLES[p.role] || p.role})`))
    : [el("li", { className: "muted" }, "Nikt nie jest zalogowany.")]));
}

// Failed logins of the last 24 hours (GET /api/login-failures): a run of them against one name or
// from one address is someone guessing. A typed name that is no account shows masked.
async function refreshLoginFailures() {
  let data;
  try {
    data = await api("GET", "/api/login-failures?hours=24&limit=50");
  } catch (error) {
    document.getElementById("login-failures-summary").textContent = `Nie udało się wczytać: ${error.message}`;
    return;
  }
  const shown = data.failures.length;
  document.getElementById("login-failures-summary").textContent = data.total === 0
    ? "Brak nieudanych logowań."
    : `Razem: ${data.total}${data.total > shown ? ` (najnowsze ${shown})` : ""}.`;
  document.querySelector("#login-failures tbody").replaceChildren(...data.failures.map((f) =>
    el("tr", { className: f.known_account ? "" : "muted" },
      el("td", {}, dateTime(f.at)),
      el("td", {}, f.username),
      el("td", {}, f.full_name || "— (nie ma takiego konta)"),
      // A wrong second-factor code comes after the right password: someone may know it.
      el("td", {}, f.factor === "code" ? "błędny kod (hasło było poprawne)" : "hasło"),
      el("td", {}, f.client_ip))));
}

refresh();
refreshLoginFailures();
setInterval(refresh, 5000);
setInterval(refreshLoginFailures, 30000);
