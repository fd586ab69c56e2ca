// The reports page: pick a municipality and a month, see the funder's figures on the page or download
// the monthly report as PDF or CSV; download a quarter's or a year's figures as CSV.
"use strict";
(() => {
  const { api, el, show } = Opaska;
  const form = document.getElementById("report-form");
  const month = document.getElementById("report-month");
  const previous = new Date();
  previous.setDate(1);
  previous.setMonth(previous.getMonth() - 1);
  month.value = `${previous.getFullYear()}-${String(previous.getMonth() + 1).padStart(2, "0")}`;

  async function load() {
    try {
      const places = await api("GET", "/api/reports/municipalities");
      document.getElementById("report-municipality").replaceChildren(
        ...places.map((m) => el("option", { value: m.code }, `${m.name} (${m.code})`)));
      if (!places.length) show("load-error", "Nie masz przypisanej żadnej gminy.");
    } catch (error) {
      show("load-error", `Nie udało się wczytać gmin: ${error.message}`);
    }
  }

  async function showFigures(query) {
    show("load-error", "");
    try {
      const report = await api("GET", `/api/reports/monthly?${query}`);
      const when = report.generated_at < report.period_end ? ` (stan na ${Opaska.dateTime(report.generated_at)})` : "";
      document.getElementById("report-period").textContent = `${report.municipality_name}: ${report.month}${when}`;
      document.getElementById("funder-lines").tBodies[0].replaceChildren(...(report.funder_lines || []).map((line) =>
        el("tr", {}, el("td", {}, line.words), el("td", { className: "muted" }, line.base),
          el("td", { className: "num" }, String(line.value)),
          el("td", { className: "num" }, line.previous === null ? "–" : String(line.previous)))));
      document.getElementById("report-figures").hidden = false;
    } catch (error) {
      show("load-error", `Nie udało się wczytać raportu: ${error.message}`);
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const format = event.submitter ? event.submitter.dataset.format : "pdf";
    const query = new URLSearchParams({
      municipality: document.getElementById("report-municipality").value,
      month: month.value,
      format: format === "show" ? "json" : format,
      lang: document.getElementById("report-lang").value,
    });
    if (format === "show") {
      showFigures(query);
      return;
    }
    // A plain navigation: the browser downloads the attachment with the session cookie.
    location.href = `/api/reports/monthly?${query}`;
  });

  const periodForm = document.getElementById("period-form");
  const quarter = Math.floor(previous.getMonth() / 3) + 1;
  document.getElementById("report-period-input").value = `${previous.getFullYear()}-Q${quarter}`;
  periodForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams({
      municipality: document.getElementById("report-municipality").value,
      period: document.getElementById("report-period-input").value.trim(),
      lang: document.getElementById("report-lang").value,
    });
    location.href = `/api/reports/period?${query}`;
  });
  load();
})();
