// The reports page: pick a municipality (or the whole centre) and a month, see the funder's figures on
// the page or download the monthly report as PDF or CSV; download a quarter's or a year's figures as CSV.
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
      // The whole centre: every municipality this user may see, each person counted once.
      const centre = places.length > 1 ? [el("option", { value: "" }, `Całe centrum (${places.length} gmin)`)] : [];
      document.getElementById("report-municipality").replaceChildren(
        ...places.map((m) => el("option", { value: m.code }, `${m.name} (${m.code})`)), ...centre);
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
          el("td", { className: "num" }, line.previous === null ? "–" : String(line.previous)),
          el("td", { className: "num" }, line.year_to_date === null ? "–" : String(line.year_to_date)))));
      showParticipants(report);
      document.getElementById("report-figures").hidden = false;
    } catch (error) {
      show("load-error", `Nie udało się wczytać raportu: ${error.message}`);
    }
  }

  const AGE_BANDS = {
    under_60: "poniżej 60 lat", "60_64": "60–64 lata", "65_74": "65–74 lata", "75_84": "75–84 lata",
    "85_plus": "85 lat i więcej", unknown: "wiek nieznany",
  };

  function showParticipants(report) {
    const counts = report.sex_age ? report.sex_age.counts : {};
    const cell = (n) => el("td", { className: "num" }, String(n));
    document.getElementById("sex-age").tBodies[0].replaceChildren(...Object.entries(counts).map(([band, bySex]) =>
      el("tr", {}, el("td", {}, AGE_BANDS[band] || band), cell(bySex.F), cell(bySex.M), cell(bySex.unknown),
        cell(bySex.F + bySex.M + bySex.unknown))));
    const table = document.getElementById("participants-by-month");
    const months = report.participants_by_month || [];
    table.tHead.rows[0].replaceChildren(...months.map(([month]) => el("th", { className: "num" }, `${month.slice(5)}.${month.slice(2, 4)}`)));
    table.tBodies[0].rows[0].replaceChildren(...months.map(([, count]) => cell(count)));
  }

  // The select's empty value is the whole centre.
  function which() {
    const code = document.getElementById("report-municipality").value;
    return code ? { municipality: code } : { centre: "true" };
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const format = event.submitter ? event.submitter.dataset.format : "pdf";
    const query = new URLSearchParams({
      ...which(),
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
      ...which(),
      period: document.getElementById("report-period-input").value.trim(),
      lang: document.getElementById("report-lang").value,
    });
    location.href = `/api/reports/period?${query}`;
  });
  load();
})();
