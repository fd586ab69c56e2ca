// The registry: residents (search, municipality filter), adding one, the CSV import with its dry
// run, and the bands.
"use strict";
{
  const { api, el, show, dateTime } = Opaska;
  const { BAND_STATUSES, errorText, municipalities, busy, formValues } = Registry;
  const $ = (id) => document.getElementById(id);
  let searchTimer = null;

  async function loadResidents() {
    const params = new URLSearchParams();
    if ($("search").value.trim()) params.set("q", $("search").value.trim());
    if ($("municipality").value) params.set("municipality_id", $("municipality").value);
    if ($("inactive").checked) params.set("include_inactive", "true");
    try {
      const list = await api("GET", `/api/registry/residents?${params}`);
      $("residents").tBodies[0].replaceChildren(...list.map((r) => el("tr", { dataset: { residentId: r.id }, className: r.active ? "" : "inactive" },
        el("td", {}, el("a", { href: `/registry/residents/${r.id}` }, `${r.last_name} ${r.first_name}`)),
        el("td", {}, r.municipality),
        el("td", {}, r.address || "–"),
        el("td", {}, r.phone || "–"),
        el("td", {}, r.bands.join(", ") || el("span", { className: "muted" }, "brak")),
        el("td", {}, r.active ? "w programie" : "nieaktywny"))));
      $("residents-empty").hidden = list.length > 0;
      $("residents").hidden = list.length === 0;
      show("load-error", "");
    } catch (error) {
      show("load-error", errorText(error));
    }
  }

  async function loadBands() {
    const params = new URLSearchParams();
    if ($("band-search").value.trim()) params.set("q", $("band-search").value.trim());
    if ($("band-status").value) params.set("status", $("band-status").value);
    try {
      const list = await api("GET", `/api/registry/bands?${params}`);
      $("bands").tBodies[0].replaceChildren(...list.map((b) => el("tr", { dataset: { bandId: b.id } },
        el("td", {}, el("a", { href: `/registry/bands/${b.id}` }, b.serial)),
        el("td", {}, b.imei || "–"),
        el("td", {}, b.model || "–"),
        el("td", {}, el("span", { className: `band-status ${b.status}` }, BAND_STATUSES[b.status] || b.status),
          b.in_test_mode ? el("span", { className: "badge test" }, "TEST") : null),
        el("td", {}, b.resident_id ? el("a", { href: `/registry/residents/${b.resident_id}` }, b.resident_name || `#${b.resident_id}`) : "–"),
        el("td", {}, b.last_seen_at ? dateTime(b.last_seen_at) : "nigdy"))));
      $("bands-empty").hidden = list.length > 0;
    } catch (error) {
      // Supervisors and technicians read bands; anyone else just does not see the list.
      $("bands-empty").hidden = false;
      $("bands-empty").textContent = errorText(error);
    }
  }

  function later(fn) {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(fn, 250);
  }

  // ---- adding a resident ----
  function setUpResidentForm() {
    const form = $("resident-form");
    if (!form) return;
    $("add-resident-toggle").addEventListener("click", () => { $("add-resident").hidden = false; $("r-first").focus(); });
    $("resident-cancel").addEventListener("click", () => { $("add-resident").hidden = true; });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = formValues(form);
      const body = {
        municipality_id: Number(values.municipality_id), first_name: values.first_name, last_name: values.last_name,
        address: values.address, access_notes: values.access_notes, medical_notes: values.medical_notes,
        language: values.language, birth_date: values.birth_date || null, sex: values.sex || null, phone: values.phone || null,
      };
      try {
        const created = await busy(form.querySelector("button[type=submit]"), () => api("POST", "/api/registry/residents", body));
        location.href = `/registry/residents/${created.resident.id}`;
      } catch (error) {
        show("resident-error", errorText(error));
      }
    });
  }

  // ---- CSV import: check first, then import ----
  let checkedFile = null;
  async function sendImport(dryRun) {
    const file = $("import-file").files[0];
    if (!file) { show("import-error", "Wybierz plik CSV."); return null; }
    const data = new FormData();
    data.append("file", file);
    const response = await fetch(`/api/registry/import?dry_run=${dryRun}`, {
      method: "POST", credentials: "same-origin", body: data,
      headers: { "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content, Accept: "application/json" },
    });
    let payload = null;
    try { payload = await response.json(); } catch (error) { payload = null; }
    if (response.status === 422 && payload && payload.report) return payload.report;
    if (!response.ok) throw new Opaska.ApiError(response.status, `błąd ${response.status}`, payload);
    return payload;
  }

  function showReport(report) {
    $("import-report").hidden = false;
    const how = `${report.encoding}, separator „${report.separator}”, wierszy: ${report.rows}`;
    let summary;
    if (report.written) summary = `Zaimportowano: mieszkańców ${report.residents}, kontaktów ${report.contacts}, opasek ${report.bands} (${how}).`;
    else if (report.ok) summary = `Plik jest poprawny (${how}). Kliknij „Importuj”, aby zapisać.`;
    else summary = `Znaleziono problemów: ${report.problems.length} (${how}). Nic nie zostało zapisane — popraw plik i sprawdź ponownie.`;
    $("import-summary").textContent = summary;
    $("import-summary").className = report.ok ? "done" : "error";
    $("import-problems").hidden = report.problems.length === 0;
    $("import-problems").tBodies[0].replaceChildren(...report.problems.map((p) => el("tr", {},
      el("td", {}, p.row || "plik"), el("td", {}, p.column || "–"), el("td", {}, p.message))));
  }

  // A supervisor's municipality default plan, one municipality at a time.
  function setUpDefaultPlan() {
    if (!$("plan-municipality")) return;
    const listed = municipalities($("plan-municipality"));
    const plan = PlanEditor.start({
      url: () => `/api/registry/municipalities/${$("plan-municipality").value}/plan`, editable: true, forMunicipality: true,
    });
    $("default-plan-toggle").addEventListener("click", async () => {
      $("default-plan").hidden = !$("default-plan").hidden;
      if (!$("default-plan").hidden) { await listed; await plan.load(); }
    });
    $("plan-municipality").addEventListener("change", () => plan.load());
  }

  function setUpImport() {
    const form = $("import-form");
    if (!form) return;
    $("import-toggle").addEventListener("click", () => { $("import").hidden = !$("import").hidden; });
    $("import-file").addEventListener("change", () => { checkedFile = null; $("import-run").disabled = true; $("import-report").hidden = true; });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      show("import-error", "");
      try {
        const report = await busy($("import-check"), () => sendImport(true));
        if (!report) return;
        showReport(report);
        checkedFile = report.ok ? $("import-file").files[0] : null;
        $("import-run").disabled = !report.ok;
      } catch (error) {
        show("import-error", errorText(error));
      }
    });
    $("import-run").addEventListener("click", async () => {
      if (!checkedFile || checkedFile !== $("import-file").files[0]) return;
      show("import-error", "");
      try {
        const report = await sendImport(false);
        $("import-run").disabled = true;
        if (report) { showReport(report); if (report.written) loadResidents(); }
      } catch (error) {
        show("import-error", errorText(error));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", async () => {
    setUpResidentForm();
    setUpImport();
    setUpDefaultPlan();
    $("search").addEventListener("input", () => later(loadResidents));
    $("municipality").addEventListener("change", loadResidents);
    $("inactive").addEventListener("change", loadResidents);
    $("filters").addEventListener("submit", (event) => { event.preventDefault(); loadResidents(); });
    $("band-search").addEventListener("input", () => later(loadBands));
    $("band-status").addEventListener("change", loadBands);
    $("band-filters").addEventListener("submit", (event) => { event.preventDefault(); loadBands(); });
    try {
      const list = await municipalities($("municipality"));
      if ($("r-municipality")) {
        await municipalities($("r-municipality"));
        if (list.length === 1) $("r-municipality").value = String(list[0].id);
      }

    } catch (error) {
      show("load-error", errorText(error));
    }
    loadResidents();
    loadBands();
  });
}
