// The answer-time SLA page: today / this week / this month against the 60 s and 180 s targets.
"use strict";
(() => {
  const { KINDS, OUTCOMES, api, el, show, duration, dateTime } = Opaska;
  const EVENTS = {
    raised: "zgłoszony", claimed: "przyjęty", released: "zwolniony", resolved: "zamknięty", cancelled: "odwołany",
    escalated: "eskalacja", note: "notatka", contact_response: "odpowiedź bliskiego", cancel_requested: "prośba o odwołanie",
  };
  let period = new URLSearchParams(location.search).get("period") || "today";

  const percent = (share) => (share === null || share === undefined ? "–" : `${(share * 100).toFixed(1).replace(".", ",")}%`);
  const secs = (s) => (s === null || s === undefined ? "–" : duration(Math.round(s)));

  function target(cell, t) {
    const text = t.counted ? `${percent(t.share)} (${t.met}/${t.counted})` : "–";
    return el("td", { className: t.achieved === false ? "miss" : "" }, text);
  }

  function row(b) {
    const f = b.figures;
    return el("tr", {}, el("td", {}, b.label), el("td", {}, f.alarms), el("td", {}, f.claimed),
      target("60", f.within_60s), target("180", f.within_180s),
      el("td", {}, secs(f.median_claim_s)), el("td", {}, secs(f.p90_claim_s)), el("td", {}, secs(f.max_claim_s)));
  }

  function timeline(m) {
    return el("ol", { className: "sla-timeline" }, ...m.timeline.map((e) =>
      el("li", {}, `+${secs(e.seconds_from_raised)} ${EVENTS[e.type] || e.type}${e.actor_name ? ` (${e.actor_name})` : ""}`)));
  }

  function fill(id, rows, empty, columns) {
    const body = document.querySelector(`#${id} tbody`);
    body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colSpan: columns, className: "empty" }, empty))]));
  }

  async function refresh() {
    document.querySelectorAll("#periods button").forEach((b) => b.classList.toggle("active", b.dataset.period === period));
    let data;
    try {
      data = await api("GET", `/api/sla?period=${encodeURIComponent(period)}`);
      show("load-error", "");
    } catch (error) {
      show("load-error", `Nie udało się wczytać danych: ${error.message}`);
      return;
    }
    const o = data.overall;
    document.getElementById("sla-alarms").textContent = String(o.alarms);
    for (const [id, t] of [["sla-60", o.within_60s], ["sla-180", o.within_180s]]) {
      const node = document.getElementById(id);
      node.textContent = percent(t.share);
      node.className = `value ${t.achieved === false ? "miss" : ""}`;
      document.getElementById(`${id}-n`).textContent = t.counted ? `${t.met} z ${t.counted}${t.pending ? `, czeka ${t.pending}` : ""}` : "";
    }
    document.getElementById("sla-median").textContent = secs(o.median_claim_s);
    document.getElementById("sla-resolve").textContent = secs(o.median_resolve_s);
    fill("sla-municipalities", data.by_municipality.map(row), "Brak gmin.", 8);
    fill("sla-operators", data.by_operator.map(row), "Nikt jeszcze nie przyjął alarmu w tym okresie.", 8);
    document.getElementById("sla-missed-total").textContent = data.missed_total > data.missed.length
      ? `(${data.missed.length} najnowszych z ${data.missed_total})` : `(${data.missed_total})`;
    fill("sla-missed", data.missed.map((m) => el("tr", { dataset: { alarmId: m.alarm_id } },
      el("td", {}, el("a", { href: m.url }, `#${m.alarm_id}`)),
      el("td", {}, KINDS[m.kind] || m.kind),
      el("td", {}, m.municipality_code || "–"),
      el("td", {}, dateTime(m.raised_at)),
      el("td", {}, m.claim_s === null ? "nie przyjęty" : secs(m.claim_s)),
      el("td", {}, m.claimed_by_name || "–"),
      el("td", {}, m.resolve_s === null ? "otwarty" : `${secs(m.resolve_s)}${m.outcome ? ` · ${OUTCOMES[m.outcome] || m.outcome}` : ""}`),
      el("td", { className: "miss" }, m.missed_targets.map((s) => `${s} s`).join(", ")),
      el("td", {}, timeline(m)))), "Żaden alarm nie przekroczył celu.", 9);
  }

  document.getElementById("periods").addEventListener("click", (event) => {
    const chosen = event.target.closest("button[data-period]");
    if (!chosen) return;
    period = chosen.dataset.period;
    history.replaceState(null, "", `?period=${period}`);
    refresh();
  });
  refresh();
  setInterval(refresh, 15000);
})();
