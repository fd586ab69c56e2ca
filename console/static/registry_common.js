// Shared by the registry pages: Polish labels, readable field errors, and small helpers.
"use strict";

const Registry = (() => {
  const { api, el, dateTime } = Opaska;
  const BAND_STATUSES = { stock: "w magazynie", active: "u mieszkańca", retired: "wycofana" };
  const FIELDS = {
    serial: "Numer seryjny", imei: "IMEI", model: "Model", firmware: "Oprogramowanie", sim_phone: "Numer SIM",
    resident_id: "Mieszkaniec", band_id: "Opaska", new_band_id: "Nowa opaska", new_serial: "Nowa opaska",
    old_band_id: "Opaska", municipality_id: "Gmina", first_name: "Imię", last_name: "Nazwisko",
    birth_date: "Data urodzenia", sex: "Płeć", address: "Adres", phone: "Telefon", language: "Język",
    access_notes: "Jak wejść", medical_notes: "Informacje medyczne", name: "Imię i nazwisko",
    relation: "Relacja", priority: "Kolejność", contact_ids: "Kolejność", has_key: "Klucz",
    confirm_resident_id: "Numer mieszkańca", minutes: "Czas testu", note: "Uwagi", file: "Plik",
    due_at: "Termin", reason: "Powód", repeat_weekly: "Co tydzień",
  };
  const PROBLEMS = {
    offline: "brak łączności", not_worn: "nienoszona", battery_low: "niski poziom baterii",
    never_connected: "nigdy nie połączona", many_rejects: "wiele odrzuconych wiadomości",
  };

  // An API error as one readable Polish sentence per field: "Numer seryjny: opaska … już zarejestrowana".
  function errorText(error) {
    const detail = error && error.data && error.data.detail;
    if (Array.isArray(detail)) {
      return detail.map((d) => {
        const field = (d.loc || []).slice(-1)[0];
        const label = FIELDS[field] || (field === "body" ? "" : field);
        return label ? `${label}: ${d.msg}` : d.msg;
      }).join("; ");
    }
    if (error && error.status === 403) return "Brak uprawnień do tej operacji albo gmina nie jest Twoja.";
    return (error && error.message) || "Nie udało się.";
  }

  async function municipalities(select, selected) {
    const list = await api("GET", "/api/registry/municipalities");
    for (const m of list) select.append(el("option", { value: String(m.id) }, `${m.name} (${m.code})`));
    if (selected) select.value = String(selected);
    return list;
  }

  function bandEvent(e) {
    const who = e.staff_name ? ` — ${e.staff_name}` : "";
    const note = e.note ? ` („${e.note}”)` : "";
    const other = e.other_band_serial || "";
    switch (e.type) {
      case "registered": return `Opaska ${e.band_serial} zarejestrowana${who}`;
      case "bound": return `Opaska ${e.band_serial} przypisana do mieszkańca${who}`;
      case "unbound": return `Opaska ${e.band_serial} odpięta (do magazynu)${who}`;
      case "swapped_out": return `Opaska ${e.band_serial} wymieniona na ${other}${note}${who}`;
      case "swapped_in": return `Opaska ${e.band_serial} zastąpiła ${other}${note}${who}`;
      case "decommissioned": return `Opaska ${e.band_serial} wycofana z użytku${note}${who}`;
      case "credentials_issued": return `Wydano dane logowania opaski ${e.band_serial}${who}`;
      case "credentials_revoked": return `Unieważniono dane logowania opaski ${e.band_serial}${who}`;
      case "test_started": return `Rozpoczęto test instalacyjny opaski ${e.band_serial}${who}`;
      case "test_stopped": return `Zakończono test instalacyjny opaski ${e.band_serial}${who}`;
      default: return `${e.type} ${e.band_serial}${who}`;
    }
  }

  function history(target, events) {
    const node = document.getElementById(target);
    if (!events.length) { node.replaceChildren(el("li", { className: "muted" }, "Brak wpisów.")); return; }
    node.replaceChildren(...events.slice().reverse().map((e) => el("li", { className: `t-${e.type}` },
      el("time", {}, dateTime(e.at)), bandEvent(e))));
  }

  function online(band) {
    if (band.last_seen_at === null) return "nigdy nie połączona";
    return band.online === false ? "offline" : band.online ? "online" : "nieznana (brak statusu od opaski)";
  }

  function battery(pct, charging) {
    if (pct === null || pct === undefined) return "–";
    return `${pct}%${charging ? " (ładuje)" : ""}`;
  }

  // Busy while a request runs: a double click does not send it twice.
  async function busy(button, work) {
    if (button) button.disabled = true;
    try { return await work(); } finally { if (button) button.disabled = false; }
  }

  function formValues(form) {
    const values = {};
    for (const [key, value] of new FormData(form).entries()) values[key] = typeof value === "string" ? value.trim() : value;
    return values;
  }

  return { BAND_STATUSES, PROBLEMS, errorText, municipalities, bandEvent, history, online, battery, busy, formValues };
})();
