// One band: status, history, credentials (reissue shows the new secret once; revoke), binding,
// swap, decommissioning, and the installation test, whose result the page waits for by asking
// every second while the band is in test mode.
"use strict";
{
  const { api, el, show, dateTime, clock, KINDS } = Opaska;
  const { BAND_STATUSES, errorText, history, online, battery, busy } = Registry;
  const $ = (id) => document.getElementById(id);
  const BAND_ID = Number($("band-page").dataset.bandId);
  const ROLE = document.body.dataset.role;
  const CHANGES = ROLE === "technician" || ROLE === "administrator";
  const POLL_MS = 1000;
  let detail = null;
  let testState = null;
  // Results at or below this id were there before the technician pressed "Rozpocznij test".
  let seenUpTo = null;
  let pollTimer = null;

  function done(text) { show("action-error", ""); show("action-done", text); }
  function failed(error) { show("action-done", ""); show("action-error", errorText(error)); }

  function render() {
    const b = detail.band;
    document.title = `Opaska ${b.serial} — opaska`;
    $("band-title").replaceChildren(el("span", {}, `Opaska ${b.serial} `),
      el("span", { className: `band-status ${b.status}` }, BAND_STATUSES[b.status] || b.status),
      b.in_test_mode ? el("span", { className: "badge test" }, "TRYB TESTOWY") : null);
    $("band-state").textContent = b.resident_id ? `u mieszkańca: ${b.resident_name}` : b.status === "retired" ? "wycofana z użytku" : "w magazynie";
    const resident = b.resident_id ? el("a", { href: `/registry/residents/${b.resident_id}` }, b.resident_name || `#${b.resident_id}`) : "–";
    const pairs = [
      ["Mieszkaniec", resident], ["IMEI", b.imei || "–"], ["Model", b.model || "–"], ["Oprogramowanie", b.firmware || "–"],
      ["Numer SIM", b.sim_phone || "–"], ["Łączność", online(b)], ["Ostatnio widziana", b.last_seen_at ? dateTime(b.last_seen_at) : "nigdy"],
      ["Bateria", battery(b.battery_pct, b.charging)], ["Noszona", b.worn === null ? "–" : b.worn ? "tak" : "nie"],
      ["Dane logowania", b.has_credentials ? "wydane" : b.credentials_revoked_at ? `unieważnione ${dateTime(b.credentials_revoked_at)}` : "brak"],
    ];
    $("band").replaceChildren(...pairs.flatMap(([t, v]) => [el("dt", {}, t), el("dd", {}, v)]));
    history("history", detail.history);
    if (CHANGES) {
      const retired = b.status === "retired";
      $("credentials-state").textContent = b.has_credentials
        ? "Opaska ma dane logowania. Hasła nie da się odczytać — można tylko wydać nowe."
        : "Opaska nie ma ważnych danych logowania: nie połączy się, dopóki ich nie wydasz.";
      $("reissue").disabled = retired;
      $("revoke").disabled = retired || !b.has_credentials;
      $("bind-form").hidden = retired || b.resident_id !== null;
      $("unbind").hidden = retired || b.resident_id === null;
      $("swap-form").hidden = retired || b.resident_id === null;
      $("decommission-form").hidden = retired;
      $("test-start").disabled = retired || !b.has_credentials;
    }
  }

  function renderTests(state) {
    testState = state;
    const on = state.in_test_mode;
    if (CHANGES) {
      $("test-stop").hidden = !on;
      $("test-start").textContent = on ? "Rozpocznij test od nowa" : "Rozpocznij test";
    }
    $("test-state").textContent = on
      ? `Tryb testowy do ${clock(state.test_mode_until)}. Naciśnij SOS na opasce (albo zasymuluj upadek) — wynik pojawi się tutaj.`
      : "Opaska nie jest w trybie testowym: jej alarmy są prawdziwe.";
    $("test-state").className = on ? "test-state on" : "test-state";
    $("test-results").tBodies[0].replaceChildren(...state.results.map((r) => el("tr", { className: r.passed ? "pass" : "fail", dataset: { resultId: r.id } },
      el("td", {}, dateTime(r.received_at)), el("td", {}, KINDS[r.kind] || r.kind),
      el("td", {}, el("strong", {}, r.passed ? "PASS" : "FAIL")),
      el("td", {}, r.latency_ms === null ? "–" : `${r.latency_ms} ms`), el("td", {}, r.note || ""))));
    $("tests-empty").hidden = state.results.length > 0;
    $("test-results").hidden = state.results.length === 0;
    const newest = state.results[0];
    if (seenUpTo !== null && newest && newest.id > seenUpTo) showResult(newest, state.pass_latency_ms);
  }

  function showResult(r, limit) {
    const box = $("test-result");
    show("action-done", "");
    box.hidden = false;
    box.className = `test-result ${r.passed ? "pass" : "fail"}`;
    const latency = r.latency_ms === null ? "czas nieznany" : `${r.latency_ms} ms`;
    box.replaceChildren(
      el("span", { className: "verdict" }, r.passed ? "PASS" : "FAIL"),
      el("span", { className: "latency" }, `${KINDS[r.kind] || r.kind}: alarm dotarł w ${latency}`),
      el("span", { className: "small" }, r.passed ? `(limit ${limit} ms) — alarm widoczny w kolejce jako TEST, bliscy nie są powiadamiani.` : r.note));
  }

  async function loadTests() {
    try { renderTests(await api("GET", `/api/registry/bands/${BAND_ID}/tests`)); } catch (error) { failed(error); }
  }

  function poll() {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(async () => {
      // The band's state too: during a visit the technician watches it connect and report.
      await Promise.all([loadTests(), load()]);
      if (testState && testState.in_test_mode) poll();
    }, POLL_MS);
  }

  async function load() {
    try {
      detail = await api("GET", `/api/registry/bands/${BAND_ID}`);
      render();
      show("load-error", "");
    } catch (error) {
      show("load-error", errorText(error));
    }
  }

  async function act(button, method, url, body, message) {
    try {
      const answer = await busy(button, () => api(method, url, body));
      if (answer && answer.band && answer.history) {
        if (answer.band.id !== BAND_ID) { location.href = `/registry/bands/${answer.band.id}`; return answer; }
        detail = answer;
        render();
      } else {
        await load();
      }
      done(message);
      return answer;
    } catch (error) { failed(error); return null; }
  }

  async function residentsForBinding() {
    try {
      const list = await api("GET", "/api/registry/residents");
      $("bind-resident").replaceChildren(el("option", { value: "" }, "— wybierz mieszkańca —"),
        ...list.map((r) => el("option", { value: String(r.id) }, `${r.last_name} ${r.first_name}${r.bands.length ? ` (ma ${r.bands.join(", ")})` : ""}`)));
    } catch (error) { /* the form stays empty; the error shows when it is used */ }
  }

  function setUp() {
    if (!CHANGES) return;
    $("test-start").addEventListener("click", async () => {
      seenUpTo = testState && testState.results.length ? testState.results[0].id : 0;
      $("test-result").hidden = true;
      try {
        renderTests(await busy($("test-start"), () => api("POST", `/api/registry/bands/${BAND_ID}/test-mode`, {})));
        done("Test rozpoczęty. Czekam na alarm z opaski…");
        load();
        poll();
      } catch (error) { failed(error); }
    });
    $("test-stop").addEventListener("click", async () => {
      try {
        renderTests(await busy($("test-stop"), () => api("DELETE", `/api/registry/bands/${BAND_ID}/test-mode`)));
        clearTimeout(pollTimer);
        done("Test zakończony: alarmy opaski są znowu prawdziwe.");
        load();
      } catch (error) { failed(error); }
    });
    $("reissue").addEventListener("click", async () => {
      if (!confirm("Wydać nowe hasło? Dotychczasowe przestanie działać od razu.")) return;
      const issued = await act($("reissue"), "POST", `/api/registry/bands/${BAND_ID}/credentials`, undefined, "Wydano nowe dane logowania.");
      if (issued) {
        $("secret-username").textContent = issued.username;
        $("secret-value").textContent = issued.secret;
        $("secret-box").hidden = false;
        detail.band = issued.band;
        render();
      }
    });
    $("revoke").addEventListener("click", async () => {
      if (!confirm("Unieważnić dane logowania? Opaska nie połączy się, dopóki nie wydasz nowych.")) return;
      // The secret goes from the page too, not only from sight.
      $("secret-box").hidden = true;
      $("secret-value").textContent = "";
      await act($("revoke"), "DELETE", `/api/registry/bands/${BAND_ID}/credentials`, undefined, "Dane logowania unieważnione.");
    });
    $("bind-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const resident = Number($("bind-resident").value);
      if (!resident) { failed({ message: "Wybierz mieszkańca." }); return; }
      await act(event.submitter, "POST", `/api/registry/bands/${BAND_ID}/bind`, { resident_id: resident }, "Opaska przypisana.");
    });
    $("unbind").addEventListener("click", async () => {
      if (!confirm("Odpiąć opaskę od mieszkańca? Wróci do magazynu.")) return;
      await act($("unbind"), "POST", `/api/registry/bands/${BAND_ID}/unbind`, undefined, "Opaska wróciła do magazynu.");
    });
    $("swap-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const serial = $("swap-serial").value.trim();
      if (!serial) { failed({ message: "Podaj numer lub IMEI nowej opaski." }); return; }
      if (!confirm(`Wymienić opaskę na ${serial}? Ta opaska zostanie wycofana.`)) return;
      await act(event.submitter, "POST", `/api/registry/bands/${BAND_ID}/swap`, { new_serial: serial }, "Opaska wymieniona.");
    });
    $("decommission-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!confirm("Wycofać opaskę z użytku na zawsze? Jej dane logowania zostaną unieważnione.")) return;
      await act(event.submitter, "POST", `/api/registry/bands/${BAND_ID}/decommission`, { note: $("decommission-note").value.trim() }, "Opaska wycofana z użytku.");
    });
    residentsForBinding();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    setUp();
    await load();
    await loadTests();
    if (testState && testState.in_test_mode) {
      seenUpTo = testState.results.length ? testState.results[0].id : 0;
      poll();
    }
  });
}
