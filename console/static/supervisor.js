// The supervisor's overview: open and overdue alarms, who is on shift, today's answer times.
"use strict";
const { KINDS, STATUSES, api, el, show, secondsSince, duration, ageClass, residentName } = Opaska;

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

refresh();
setInterval(refresh, 5000);
