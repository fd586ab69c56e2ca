// One resident: their data, contacts in calling order (reorder, add, remove), bands and band
// history, the consent to call recording (supervisors), and for administrators the RODO export and erasure.
"use strict";
{
  const { api, el, show, dateTime } = Opaska;
  const { errorText, history, online, battery, busy, formValues } = Registry;
  const $ = (id) => document.getElementById(id);
  const RESIDENT_ID = Number($("resident-page").dataset.residentId);
  const ROLE = document.body.dataset.role;
  const MANAGES = ROLE === "supervisor" || ROLE === "administrator";
  let detail = null;
  // Technicians (at installation), supervisors and administrators: everyone who opens this page.
  const plan = PlanEditor.start({
    url: () => `/api/registry/residents/${RESIDENT_ID}/plan`,
    contacts: () => (detail ? detail.contacts : []),
    editable: ["technician", "supervisor", "administrator"].includes(ROLE),
  });

  function done(text) { show("action-error", ""); show("action-done", text); }
  function failed(error) { show("action-done", ""); show("action-error", errorText(error)); }

  function render() {
    const r = detail.resident;
    document.title = `${r.first_name} ${r.last_name} — opaska`;
    $("resident-title").textContent = `${r.first_name} ${r.last_name}`;
    $("resident-state").textContent = `${r.municipality} · ${r.active ? "w programie" : "nieaktywny (zakończył udział)"} · nr ${r.id}`;
    const pairs = [
      ["Adres", r.address || "–"], ["Telefon", r.phone || "–"],
      ["Data urodzenia", r.birth_date ? new Date(`${r.birth_date}T12:00:00`).toLocaleDateString("pl-PL") : "–"],
      ["Płeć", { F: "kobieta", M: "mężczyzna" }[r.sex] || "nie podano"], ["Jak wejść", r.access_notes || "–"],
      ["Kod sejfu na klucz", detail.has_key_safe_code ? "zapisany (widoczny przy alarmie)" : "brak"],
      ["W rejestrze od", dateTime(r.created_at)],
      ["Nagrywanie rozmów", r.call_recording_consent_at ? `zgoda z ${localDay(r.call_recording_consent_at)}` : "brak zgody"],
    ];
    $("resident").replaceChildren(...pairs.flatMap(([t, v]) => [el("dt", {}, t), el("dd", {}, v)]));
    // Medical notes are read one at a time, on request, and every reading is recorded.
    $("medical").hidden = true;
    $("medical").textContent = "";
    if ($("medical-reveal")) $("medical-reveal").hidden = !detail.has_medical_notes;
    const deactivate = $("deactivate");
    if (deactivate) deactivate.hidden = !r.active;

    const where = new Map((detail.whereabouts || []).map((w) => [w.band_id, w]));
    $("bands").tBodies[0].replaceChildren(...detail.bands.map((b) => el("tr", { dataset: { bandId: b.id } },
      el("td", {}, el("a", { href: `/registry/bands/${b.id}` }, b.serial), b.in_test_mode ? el("span", { className: "badge test" }, "TEST") : null),
      el("td", {}, b.model || "–"), el("td", {}, online(b)), el("td", {}, battery(b.battery_pct, b.charging)),
      el("td", { className: "last-signal" }, BandSignal.text(where.get(b.id)?.last_signal)),
      el("td", {}, b.last_seen_at ? dateTime(b.last_seen_at) : "–"))));
    $("bands-empty").hidden = detail.bands.length > 0;
    $("bands").hidden = detail.bands.length === 0;
    renderWhere(detail.bands, where);

    renderContacts(detail.contacts);
    history("history", detail.band_history);
    renderConsent(r);
  }

  // The day (in the browser's time zone, as the form's date field shows it) of an ISO time.
  function localDay(iso) {
    const d = new Date(iso);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  function renderConsent(r, recordsCalls) {
    if (!$("consent-form")) return;
    const given = Boolean(r.call_recording_consent_at);
    $("consent-given").checked = given;
    $("consent-date").value = given ? localDay(r.call_recording_consent_at) : "";
    $("consent-date").disabled = !given;
    let state = given ? `Zgoda odnotowana: ${localDay(r.call_recording_consent_at)}.` : "Brak zgody: rozmowy nie są nagrywane.";
    if (given && recordsCalls === false) state += " Gmina mieszkańca nie nagrywa rozmów, więc nic nie jest nagrywane.";
    $("consent-state").textContent = state;
  }

  // The map of the band located most recently (a resident wears one band; during a swap, two).
  function renderWhere(bands, where) {
    const located = bands.map((b) => where.get(b.id)).filter((w) => w && w.last_location)
      .sort((a, b) => new Date(b.last_location.at || 0) - new Date(a.last_location.at || 0));
    $("resident-where").hidden = bands.length === 0;
    if (bands.length === 0) return;
    const newest = located[0];
    $("resident-map-title").textContent = newest && bands.length > 1 ? `Ostatnie położenie opaski ${newest.serial}` : "Ostatnie położenie opaski";
    // The safe-zone card draws the map: the band's position with the zone around home.
    document.dispatchEvent(new CustomEvent("opaska:band-location", { detail: newest ? newest.last_location : null }));
  }

  function renderContacts(contacts) {
    plan.redraw();
    const ids = contacts.map((c) => c.id);
    $("contacts").tBodies[0].replaceChildren(...contacts.map((c, index) => {
      const actions = el("td", { className: "contact-actions" });
      if (MANAGES) {
        const up = el("button", { type: "button", className: "quiet", title: "wyżej", disabled: index === 0 }, "↑");
        const down = el("button", { type: "button", className: "quiet", title: "niżej", disabled: index === contacts.length - 1 }, "↓");
        const remove = el("button", { type: "button", className: "quiet" }, "Usuń");
        up.addEventListener("click", () => move(ids, index, -1));
        down.addEventListener("click", () => move(ids, index, 1));
        remove.addEventListener("click", () => removeContact(c));
        actions.append(up, down, remove);
      }
      return el("tr", { dataset: { contactId: c.id } },
        el("td", {}, c.priority), el("td", {}, c.name), el("td", {}, c.relation || "–"), el("td", {}, c.phone),
        el("td", {}, c.has_key ? "tak" : "nie"), actions);
    }));
    $("contacts-empty").hidden = contacts.length > 0;
    $("contacts").hidden = contacts.length === 0;
  }

  async function move(ids, index, by) {
    const order = ids.slice();
    [order[index], order[index + by]] = [order[index + by], order[index]];
    try {
      detail.contacts = await api("PUT", `/api/registry/residents/${RESIDENT_ID}/contacts/order`, { contact_ids: order });
      renderContacts(detail.contacts);
      done("Kolejność zapisana.");
    } catch (error) { failed(error); }
  }

  async function removeContact(contact) {
    if (!await OpaskaDialog.confirmed(`Usunąć kontakt ${contact.name}?`, "Ta osoba nie będzie już powiadamiana o alarmach.", { confirm: "Usuń", danger: true })) return;
    try {
      detail.contacts = await api("DELETE", `/api/registry/contacts/${contact.id}`);
      renderContacts(detail.contacts);
      done(`Usunięto kontakt ${contact.name}.`);
    } catch (error) { failed(error); }
  }

  async function load() {
    try {
      detail = await api("GET", `/api/registry/residents/${RESIDENT_ID}`);
      render();
      await plan.load();
      show("load-error", "");
    } catch (error) {
      show("load-error", errorText(error));
    }
  }

  function setUp() {
    const form = $("contact-form");
    if (form) {
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        const v = formValues(form);
        const body = { name: v.name, phone: v.phone, relation: v.relation, has_key: $("c-key").checked };
        try {
          detail.contacts = await busy(form.querySelector("button[type=submit]"),
            () => api("POST", `/api/registry/residents/${RESIDENT_ID}/contacts`, body));
          renderContacts(detail.contacts);
          form.reset();
          show("contact-error", "");
          done(`Dodano kontakt ${body.name}.`);
        } catch (error) { show("contact-error", errorText(error)); }
      });
    }
    const readMedicalNotes = async () =>
      (await api("GET", `/api/registry/residents/${RESIDENT_ID}/medical-notes`)).medical_notes;
    const reveal = $("medical-show");
    if (reveal) {
      reveal.addEventListener("click", async () => {
        try {
          const notes = await busy(reveal, readMedicalNotes);
          $("medical").textContent = `Informacje medyczne: ${notes}`;
          $("medical").hidden = false;
          $("medical-reveal").hidden = true;
        } catch (error) { failed(error); }
      });
    }
    const edit = $("edit-form");
    // What the edit form was filled with: medical notes are sent only when changed, so a form
    // opened without them (or before they loaded) can never wipe them.
    let notesInForm = "";
    if (edit) {
      $("edit-toggle").addEventListener("click", async () => {
        const r = detail.resident;
        try {
          notesInForm = detail.has_medical_notes ? await readMedicalNotes() : "";
        } catch (error) { failed(error); return; }
        $("e-first").value = r.first_name; $("e-last").value = r.last_name; $("e-birth").value = r.birth_date || ""; $("e-sex").value = r.sex || "";
        $("e-phone").value = r.phone || ""; $("e-address").value = r.address; $("e-language").value = r.language;
        $("e-access").value = r.access_notes; $("e-medical").value = notesInForm;
        edit.hidden = false;
        $("edit-toggle").hidden = true;
      });
      $("edit-cancel").addEventListener("click", () => { edit.hidden = true; $("edit-toggle").hidden = false; show("edit-error", ""); });
      edit.addEventListener("submit", async (event) => {
        event.preventDefault();
        const v = formValues(edit);
        const body = {
          first_name: v.first_name, last_name: v.last_name, birth_date: v.birth_date || null, sex: v.sex || null, phone: v.phone || null,
          address: v.address, language: v.language, access_notes: v.access_notes,
        };
        if (v.medical_notes !== notesInForm) body.medical_notes = v.medical_notes;
        try {
          detail = await busy(edit.querySelector("button[type=submit]"), () => api("PATCH", `/api/registry/residents/${RESIDENT_ID}`, body));
          render();
          edit.hidden = true;
          $("edit-toggle").hidden = false;
          show("edit-error", "");
          done("Dane zapisane.");
        } catch (error) { show("edit-error", errorText(error)); }
      });
    }
    const consent = $("consent-form");
    if (consent) {
      $("consent-given").addEventListener("change", () => {
        $("consent-date").disabled = !$("consent-given").checked;
        if ($("consent-given").checked && !$("consent-date").value) $("consent-date").value = localDay(new Date().toISOString());
      });
      consent.addEventListener("submit", async (event) => {
        event.preventDefault();
        const given = $("consent-given").checked;
        const body = { consent: given, signed_on: given ? ($("consent-date").value || null) : null };
        try {
          const saved = await busy($("consent-save"),
            () => api("PUT", `/api/registry/residents/${RESIDENT_ID}/call-recording-consent`, body));
          detail.resident.call_recording_consent_at = saved.call_recording_consent_at;
          render();
          renderConsent(detail.resident, saved.municipality_records_calls);
          show("consent-error", "");
          done(given ? "Zgoda na nagrywanie rozmów zapisana." : "Zgoda na nagrywanie rozmów wycofana.");
        } catch (error) { show("consent-error", errorText(error)); }
      });
    }
    const deactivate = $("deactivate");
    if (deactivate) {
      deactivate.addEventListener("click", async () => {
        if (!await OpaskaDialog.confirmed("Zakończyć udział mieszkańca w programie?", "Jego opaska wróci do magazynu.", { confirm: "Zakończ udział", danger: true })) return;
        try {
          detail = await busy(deactivate, () => api("POST", `/api/registry/residents/${RESIDENT_ID}/deactivate`));
          render();
          done("Mieszkaniec zakończył udział w programie; opaska wróciła do magazynu.");
        } catch (error) { failed(error); }
      });
    }
    const erase = $("erase-form");
    if (erase) {
      erase.addEventListener("submit", async (event) => {
        event.preventDefault();
        const typed = Number($("erase-confirm").value.trim());
        if (typed !== RESIDENT_ID) { show("erase-error", `Wpisz numer mieszkańca: ${RESIDENT_ID}.`); return; }
        try {
          const result = await busy(erase.querySelector("button"),
            () => api("POST", `/api/registry/residents/${RESIDENT_ID}/erase`, { confirm_resident_id: typed }));
          show("erase-error", "");
          done(result.message);
          erase.hidden = true;
          load();
        } catch (error) { show("erase-error", errorText(error)); }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", () => { setUp(); load(); });
}
