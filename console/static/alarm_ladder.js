// The alarm page's no-response ladder: when the resident cannot be reached, the operator is led
// rung by rung: who goes (with the deadline running), else 112 with the address and access
// details on screen and the dispatch recorded, then the arrival. Each rung is in the history.
"use strict";
const AlarmLadder = (() => {
  const { el, clock, duration } = Opaska;
  const REASONS = { no_answer: "mieszkaniec nie odbiera", band_silent: "brak odpowiedzi przez opaskę", other: "inny powód" };
  const SERVICES = { ambulance: "pogotowie (ZRM)", police: "policja", fire: "straż pożarna" };
  let shownKey = null;
  let dueAt = null;

  function field(label, control) {
    return el("label", { className: "ladder-field" }, el("span", {}, label), control);
  }

  function select(name, options, first) {
    return el("select", { name }, ...(first ? [el("option", { value: "" }, first)] : []),
      ...Object.entries(options).map(([value, text]) => el("option", { value }, text)));
  }

  function form(className, children, submitText, onSubmit) {
    const node = el("form", { className: `ladder-form ${className}` }, ...children,
      el("button", { type: "submit", className: "primary" }, submitText));
    node.addEventListener("submit", (event) => {
      event.preventDefault();
      const values = Object.fromEntries(new FormData(node).entries());
      onSubmit(values);
    });
    return node;
  }

  function going(detail, send) {
    const names = Object.fromEntries(detail.contacts.map((c) => [c.name, `${c.name}${c.relation ? ` (${c.relation})` : ""}${c.has_key ? " · ma klucz" : ""}`]));
    const who = el("input", { name: "who", maxLength: 200, required: true, placeholder: "imię i nazwisko / opiekun" });
    who.setAttribute("list", "ladder-people");  // read-only as a property
    return form("going", [
      el("datalist", { id: "ladder-people" }, ...Object.values(names).map((text) => el("option", { value: text }))),
      field("Kto jedzie", who),
      field("Będzie za (min)", el("input", { name: "eta_min", type: "number", min: 1, max: 240 })),
      field("Uwagi", el("input", { name: "remark", maxLength: 500 })),
    ], "Jedzie", (v) => send({ rung: "going", who: v.who, eta_min: v.eta_min ? Number(v.eta_min) : null, remark: v.remark }));
  }

  function dispatch(send) {
    return form("dispatch", [
      field("Służba", select("service", SERVICES)),
      field("Nr zgłoszenia (od dyspozytora)", el("input", { name: "reference", maxLength: 64 })),
      field("Uwagi", el("input", { name: "remark", maxLength: 500 })),
    ], "Zapisz wezwanie", (v) => send({ rung: "dispatched", service: v.service, reference: v.reference, remark: v.remark }));
  }

  function arrived(who, send) {
    return form("arrived", [
      field("Kto jest na miejscu", el("input", { name: "who", maxLength: 200, required: true, value: who })),
      field("Uwagi", el("input", { name: "remark", maxLength: 500 })),
    ], "Pomoc na miejscu", (v) => send({ rung: "arrived", who: v.who, remark: v.remark }));
  }

  // What the 112 dispatcher asks for, on screen: where, how to get in, who the resident is.
  function emergencyCard(detail) {
    const r = detail.resident;
    if (!r) return el("p", {}, "Brak danych mieszkańca: podaj dyspozytorowi numer opaski i położenie.");
    return el("dl", { className: "emergency-card" },
      el("dt", {}, "Adres"), el("dd", {}, r.address || "–"),
      el("dt", {}, "Jak wejść"), el("dd", {}, r.access_notes || "–"),
      el("dt", {}, "Mieszkaniec"), el("dd", {}, `${r.first_name} ${r.last_name}${r.age !== null ? `, ${r.age} lat` : ""}`),
      el("dt", {}, "Telefon"), el("dd", {}, r.phone || "–"));
  }

  function rungLine(rung) {
    return el("li", {}, el("time", {}, clock(rung.at)), " ", rung.text);
  }

  function tick() {
    const node = document.getElementById("ladder-due");
    if (!node || !dueAt) return;
    const left = Math.round((dueAt.getTime() - Date.now()) / 1000);
    node.textContent = left > 0 ? `zostało ${duration(left)} (do ${clock(dueAt.toISOString())})`
      : `czas minął o ${clock(dueAt.toISOString())}: wezwij 112`;
    node.className = left > 0 ? "due" : "due over";
  }

  function render(ladder, detail, { canAct, send }) {
    const section = document.getElementById("ladder");
    if (!ladder) { section.hidden = true; return; }
    const life = Opaska.LIFE_KINDS.has(detail.alarm.kind);
    section.hidden = !life || detail.alarm.is_test;
    dueAt = ladder.find_due_at ? new Date(ladder.find_due_at) : null;
    // Rebuilt only when the ladder moved: a live event must not wipe a half-typed form.
    const key = `${ladder.stage}|${ladder.rungs.length}|${canAct}|${ladder.overdue}`;
    if (key === shownKey) { tick(); return; }
    shownKey = key;
    const parts = [];
    const last = (rung) => [...ladder.rungs].reverse().find((r) => r.rung === rung);
    const stage = ladder.stage;
    section.dataset.stage = stage;
    if (stage === "not_started") {
      parts.push(el("p", { className: "muted small" }, "Gdy nie udaje się skontaktować z mieszkańcem (nie odbiera, opaska milczy): rozpocznij procedurę."));
      if (canAct) {
        parts.push(form("start", [
          field("Powód", select("reason", REASONS)),
          field("Uwagi", el("input", { name: "remark", maxLength: 500, placeholder: "np. 3 próby połączenia" })),
        ], "Brak kontaktu — rozpocznij", (v) => send({ rung: "started", reason: v.reason, remark: v.remark })));
        parts.push(el("details", {}, el("summary", {}, "Służby wezwane od razu (bez szukania osoby z kluczem)"), dispatch(send)));
      }
    } else if (stage === "finding") {
      parts.push(el("p", { className: "ladder-step" }, `Krok 1: ktoś z kluczem lub opiekun musi wyruszyć w ciągu ${duration(ladder.find_s)}: `,
        el("strong", { id: "ladder-due" })));
      if (canAct) {
        parts.push(going(detail, send));
        parts.push(el("button", { type: "button", className: "danger", onclick: () => send({ rung: "nobody" }) }, "Nikt nie może pojechać → 112"));
      }
    } else if (stage === "call_emergency") {
      parts.push(el("p", { className: "ladder-alert", role: "alert" },
        ladder.overdue ? "Nikt nie wyruszył w wyznaczonym czasie. " : "Nikt z kluczem nie może pojechać. ",
        el("strong", {}, "Zadzwoń na 112"), " i podaj dyspozytorowi:"));
      parts.push(emergencyCard(detail));
      if (canAct) parts.push(dispatch(send), el("details", {}, el("summary", {}, "Jednak ktoś jedzie"), going(detail, send)));
    } else if (stage === "someone_going" || stage === "dispatched") {
      const rung = last(stage === "dispatched" ? "dispatched" : "going");
      const who = stage === "dispatched" ? SERVICES[rung.detail.service] || rung.detail.service : rung.detail.who;
      parts.push(el("p", { className: "ladder-step" }, `${stage === "dispatched" ? "Wezwano" : "Jedzie"}: `, el("strong", {}, who),
        ` od ${clock(rung.at)} (${duration(Math.max(0, Math.round((Date.now() - new Date(rung.at)) / 1000)))} temu)`,
        rung.detail.reference ? ` · nr zgłoszenia ${rung.detail.reference}` : "",
        rung.detail.eta_min ? ` · miał(a) być za ${rung.detail.eta_min} min` : ""));
      if (stage === "dispatched") parts.push(emergencyCard(detail));
      if (canAct) {
        parts.push(arrived(who, send));
        if (stage === "someone_going") parts.push(el("details", {}, el("summary", {}, "Wezwij służby (112)"), dispatch(send)));
      }
    } else if (stage === "arrived") {
      const rung = last("arrived");
      parts.push(el("p", { className: "done" }, `Pomoc na miejscu: ${rung.detail.who} o ${clock(rung.at)}. Zamknij alarm z wynikiem, gdy sytuacja jest jasna.`));
    }
    if (ladder.rungs.length) parts.push(el("ol", { className: "ladder-rungs" }, ...ladder.rungs.map(rungLine)));
    document.getElementById("ladder-body").replaceChildren(...parts);
    tick();
  }

  setInterval(tick, 1000);
  return { render };
})();
