// One band: status, history, credentials (reissue shows the new secret once; revoke), binding,
// swap, decommissioning, and the installation test, whose result the page waits for by asking
// every second while the band is in test mode. The test's alarms are the technician's: they are
// listed here, with their wait counting up, to be closed with "Zamknij test".
"use strict";
{
  const { api, el, show, dateTime, clock, duration, KINDS, STATUSES, OUTCOMES } = Opaska;
  const { BAND_STATUSES, errorText, history, online, battery, busy } = Registry;
  const $ = (id) => document.getElementById(id);
  const BAND_ID = Number($("band-page").dataset.bandId);
  const ROLE = document.body.dataset.role;
  const CHANGES = ROLE === "technician" || ROLE === "administrator";
  const POLL_MS = 1000;
  // Test mode over but test alarms still open: they are only waiting to be closed, so less often.
  const IDLE_POLL_MS = 5000;
  let detail = null;
  let testState = null;
  // Results at or below this id were there before the technician pressed "Rozpocznij test".
  let seenUpTo = null;
  let shownResultId = null;
  let pollTimer = null;
  // The band's open test alarms as last fetched, and when (their waits count on from then).
  let testAlarms = [];
  let testAlarmsAt = Date.now();

  function done(text) { show("action-error", ""); show("action-done", text); }
  function failed(error) { show("action-done", ""); show("action-error", errorText(error)); }

  function render() {
    const b = detail.band;
    document.title = `Opaska ${b.serial} — opaska`;
    $("band-title").replaceChildren(el("span", {}, `Opaska ${b.serial} `),
      el("span", { className: `band-status ${b.status}` }, BAND_STATUSES[b.status] || b.status),
      b.in_test_mode ? el("span", { className: "badge test" }, "TRYB TESTOWY") : "");
    $("band-state").textContent = b.resident_id ? `u mieszkańca: ${b.resident_name}` : b.status === "retired" ? "wycofana z użytku" : "w magazynie";
    const resident = b.resident_id ? el("a", { href: `/registry/residents/${b.resident_id}` }, b.resident_name || `#${b.resident_id}`) : "–";
    const pairs = [
      ["Mieszkaniec", resident], ["IMEI", b.imei || "–"], ["Model", b.model || "–"], ["Oprogramowanie", b.firmware || "–"],
      ["Numer SIM", b.sim_phone || "–"], ["Łączność", online(b)],
      ["Ostatni sygnał", el("span", { id: "band-last-signal" }, BandSignal.text(detail.whereabouts.last_signal))],
      ["Ostatnio widziana", b.last_seen_at ? dateTime(b.last_seen_at) : "nigdy"],
      ["Bateria", battery(b.battery_pct, b.charging)], ["Noszona", b.worn === null ? "–" : b.worn ? "tak" : "nie"],
      ["Dane logowania", b.has_credentials ? "wydane" : b.credentials_revoked_at ? `unieważnione ${dateTime(b.credentials_revoked_at)}` : "brak"],
    ];
    $("band").replaceChildren(...pairs.flatMap(([t, v]) => [el("dt", {}, t), el("dd", {}, v)]));
    OpaskaMap.show("band-map", detail.whereabouts.last_location);
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
    // Shown once per new result: shown again at every poll, it would wipe the page's other messages.
    if (seenUpTo !== null && newest && newest.id > seenUpTo && newest.id !== shownResultId) {
      shownResultId = newest.id;
      showResult(newest, state.pass_latency_ms);
    }
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
      el("span", { className: "small" }, r.passed
        ? `(limit ${limit} ms) — alarm testowy czeka poniżej na „Zamknij test”; operatorzy go nie słyszą, bliscy nie są powiadamiani.`
        : r.note));
  }

  async function loadTests() {
    try { renderTests(await api("GET", `/api/registry/bands/${BAND_ID}/tests`)); } catch (error) { failed(error); }
  }

  // ---- the test's open alarms: the technician closes each one here

  function waited(alarm) {
    return alarm.waited_s + Math.max(0, Math.floor((Date.now() - testAlarmsAt) / 1000));
  }

  // A passed test closes as "zakończony", any other as "nieudany" (its note says why).
  function testOutcome(alarm) {
    return alarm.result && alarm.result.passed ? "installation_test_ok" : "installation_test_failed";
  }

  function testAlarmRow(alarm) {
    const r = alarm.result;
    const verdict = r
      ? el("span", {}, el("strong", {}, r.passed ? "PASS" : "FAIL"), r.latency_ms === null ? "" : ` ${r.latency_ms} ms`)
      : "–";
    const status = STATUSES[alarm.status] || alarm.status;
    const state = alarm.claimed_by_name ? `${status}: ${alarm.claimed_by_name}` : status;
    const button = el("button", { type: "button", className: "primary", title: `Zamknie alarm z wynikiem: ${OUTCOMES[testOutcome(alarm)]}` }, "Zamknij test");
    button.addEventListener("click", () => closeTest(button, alarm));
    const repeats = alarm.repeat_count ? ` ×${alarm.repeat_count + 1}` : "";
    return el("tr", { className: r ? (r.passed ? "pass" : "fail") : "", dataset: { alarmId: alarm.alarm_id } },
      el("td", {}, el("a", { href: `/alarms/${alarm.alarm_id}` }, `${KINDS[alarm.kind] || alarm.kind}${repeats}`), " ",
        el("span", { className: "badge test" }, "TEST")),
      el("td", {}, clock(alarm.raised_at)),
      el("td", { className: "waited" }, duration(waited(alarm))),
      el("td", {}, verdict), el("td", {}, state), el("td", {}, button));
  }

  function renderTestAlarms() {
    $("test-alarms").tBodies[0].replaceChildren(...testAlarms.map(testAlarmRow));
    $("test-alarms").hidden = testAlarms.length === 0;
    $("test-alarms-empty").hidden = testAlarms.length > 0;
  }

  // Only the waits change from second to second: the rows (and their buttons) stay.
  function tickWaits() {
    for (const alarm of testAlarms) {
      const cell = document.querySelector(`#test-alarms tr[data-alarm-id="${alarm.alarm_id}"] .waited`);
      if (cell) cell.textContent = duration(waited(alarm));
    }
  }

  async function loadTestAlarms() {
    try {
      const list = await api("GET", `/api/installation-tests/bands/${BAND_ID}/alarms`);
      testAlarmsAt = Date.now();
      const same = list.length === testAlarms.length && list.every((a, i) => a.alarm_id === testAlarms[i].alarm_id
        && a.status === testAlarms[i].status && a.repeat_count === testAlarms[i].repeat_count
        && a.claimed_by_name === testAlarms[i].claimed_by_name && Boolean(a.result) === Boolean(testAlarms[i].result));
      testAlarms = list;
      // Rebuilt only when something changed, so a button is never replaced under the technician's click.
      if (same) tickWaits(); else renderTestAlarms();
    } catch (error) { failed(error); }
  }

  async function closeTest(button, alarm) {
    const outcome = testOutcome(alarm);
    try {
      await busy(button, () => api("POST", `/api/installation-tests/alarms/${alarm.alarm_id}/close`, { outcome }));
      done(`${KINDS[alarm.kind] || alarm.kind} (alarm ${alarm.alarm_id}): ${OUTCOMES[outcome]}.`);
    } catch (error) { failed(error); }
    await loadTestAlarms();
    poll();
  }

  // While test mode is on: every second (the test press, the band's state). After it, while test
  // alarms are open: every few seconds, until they are closed (here or by an operator).
  function poll() {
    clearTimeout(pollTimer);
    const on = Boolean(testState && testState.in_test_mode);
    if (!on && testAlarms.length === 0) return;
    pollTimer = setTimeout(async () => {
      // The band's state too: during a visit the technician watches it connect and report.
      await Promise.all(on ? [loadTests(), loadTestAlarms(), load()] : [loadTests(), loadTestAlarms()]);
      poll();
    }, on ? POLL_MS : IDLE_POLL_MS);
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
        done(testAlarms.length
          ? "Tryb testowy zakończony: alarmy opaski są znowu prawdziwe. Zamknij jeszcze otwarte alarmy testowe."
          : "Test zakończony: alarmy opaski są znowu prawdziwe.");
        load();
        poll();
      } catch (error) { failed(error); }
    });
    $("reissue").addEventListener("click", async () => {
      if (!await OpaskaDialog.confirmed("Wydać nowe hasło?", "Dotychczasowe przestanie działać od razu.", { confirm: "Wydaj nowe hasło", danger: true })) return;
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
      if (!await OpaskaDialog.confirmed("Unieważnić dane logowania?", "Opaska nie połączy się, dopóki nie wydasz nowych.", { confirm: "Unieważnij", danger: true })) return;
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
      if (!await OpaskaDialog.confirmed("Odpiąć opaskę od mieszkańca?", "Opaska wróci do magazynu.", { confirm: "Odepnij" })) return;
      await act($("unbind"), "POST", `/api/registry/bands/${BAND_ID}/unbind`, undefined, "Opaska wróciła do magazynu.");
    });
    $("swap-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const serial = $("swap-serial").value.trim();
      if (!serial) { failed({ message: "Podaj numer lub IMEI nowej opaski." }); return; }
      if (!await OpaskaDialog.confirmed(`Wymienić opaskę na ${serial}?`, "Ta opaska zostanie wycofana.", { confirm: "Wymień" })) return;
      await act(event.submitter, "POST", `/api/registry/bands/${BAND_ID}/swap`, { new_serial: serial }, "Opaska wymieniona.");
    });
    $("decommission-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!await OpaskaDialog.confirmed("Wycofać opaskę z użytku na zawsze?", "Jej dane logowania zostaną unieważnione.", { confirm: "Wycofaj", danger: true })) return;
      await act(event.submitter, "POST", `/api/registry/bands/${BAND_ID}/decommission`, { note: $("decommission-note").value.trim() }, "Opaska wycofana z użytku.");
    });
    residentsForBinding();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    setUp();
    await load();
    await Promise.all([loadTests(), loadTestAlarms()]);
    if (testState && testState.in_test_mode) seenUpTo = testState.results.length ? testState.results[0].id : 0;
    poll();
    setInterval(tickWaits, 1000);
  });
}
