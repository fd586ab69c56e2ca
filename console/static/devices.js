// Device health: bands that need a technician, worst first, with a municipality filter and the
// same list as a CSV download.
"use strict";
{
  const { api, el, show, dateTime } = Opaska;
  const { errorText, municipalities, battery } = Registry;
  const $ = (id) => document.getElementById(id);

  function query() {
    const params = new URLSearchParams();
    if ($("municipality").value) params.set("municipality_id", $("municipality").value);
    if ($("all").checked) params.set("all", "true");
    return params.toString();
  }

  async function load() {
    const params = query();
    $("csv").href = `/api/registry/devices/health.csv${params ? `?${params}` : ""}`;
    try {
      const rows = await api("GET", `/api/registry/devices/health${params ? `?${params}` : ""}`);
      $("health").tBodies[0].replaceChildren(...rows.map((r) => el("tr", { dataset: { bandId: r.band_id }, className: r.problems.length ? "problem" : "" },
        el("td", {}, el("a", { href: `/registry/bands/${r.band_id}` }, r.serial)),
        el("td", {}, r.model || "–"),
        el("td", {}, r.municipality_code || "–"),
        el("td", {}, r.resident_id ? el("a", { href: `/registry/residents/${r.resident_id}` }, r.resident_name) : "magazyn"),
        el("td", {}, ...(r.problems.length ? r.problems_pl.map((p, i) => el("span", { className: `problem-tag ${r.problems[i]}` }, p)) : [el("span", { className: "done" }, "sprawna")])),
        el("td", {}, r.last_seen_at ? dateTime(r.last_seen_at) : "nigdy"),
        el("td", { className: r.problems.includes("battery_low") ? "low" : "" }, battery(r.battery_pct, false)),
        el("td", {}, r.rejects_24h))));
      $("health-empty").hidden = rows.length > 0;
      $("health-count").textContent = `(${rows.length})`;
      show("load-error", "");
    } catch (error) {
      show("load-error", errorText(error));
    }
  }

  document.addEventListener("DOMContentLoaded", async () => {
    $("municipality").addEventListener("change", load);
    $("all").addEventListener("change", load);
    $("refresh").addEventListener("click", load);
    try { await municipalities($("municipality")); } catch (error) { show("load-error", errorText(error)); }
    load();
    // Technicians leave this open during the day: refresh it by itself.
    setInterval(load, 30000);
  });
}
