// The reports page: pick a municipality and a month, download the monthly report as PDF or CSV.
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

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const format = event.submitter ? event.submitter.dataset.format : "pdf";
    const query = new URLSearchParams({
      municipality: document.getElementById("report-municipality").value,
      month: month.value,
      format,
      lang: document.getElementById("report-lang").value,
    });
    // A plain navigation: the browser downloads the attachment with the session cookie.
    location.href = `/api/reports/monthly?${query}`;
  });
  load();
})();
