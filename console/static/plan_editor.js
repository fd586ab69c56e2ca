// The action-plan editor: a resident's plan (their page) or a municipality's default plan (the
// registry, for supervisors): the steps an operator follows on an alarm, in order. Saved whole;
// an empty resident plan means the municipality's default plan applies.
"use strict";
const PlanEditor = (() => {
  const { api, el, show } = Opaska;
  const KINDS = {
    call_resident: "Zadzwoń do mieszkańca",
    call_contact: "Zadzwoń do osoby bliskiej…",
    call_key_holder: "Zadzwoń do osoby z kluczem",
    key_safe: "Podaj kod sejfu na klucz",
    medical: "Przekaż informacje medyczne (ZRM)",
    emergency: "Wezwij pogotowie: 112",
    instruction: "Polecenie (własne słowa)",
  };
  const SOURCES = {
    resident: "Plan własny mieszkańca.",
    municipality: "Mieszkaniec nie ma własnego planu: przy alarmie obowiązuje plan domyślny gminy (poniżej). Zapisanie tworzy plan własny.",
    none: "Brak planu: ani mieszkaniec, ani gmina nie mają planu. Dodaj kroki i zapisz.",
  };

  function stepError(error) {
    const detail = error && error.data && error.data.detail;
    if (!Array.isArray(detail)) return error.message || "Nie udało się zapisać planu.";
    return detail.map((d) => {
      const where = String((d.loc || []).slice(-1)[0] || "");
      const match = /^steps\.(\d+)/.exec(where);
      return match ? `Krok ${Number(match[1]) + 1}: ${d.msg}` : d.msg;
    }).join("; ");
  }

  const DEFAULT_SOURCES = {
    municipality: "Plan domyślny gminy: obowiązuje przy alarmach mieszkańców bez planu własnego.",
    none: "Gmina nie ma planu domyślnego. Dodaj kroki i zapisz.",
  };

  // url: () => the plan's API address; forMunicipality: a default plan (no named relatives).
  function start({ url, contacts = () => [], editable, forMunicipality = false }) {
    const list = document.getElementById("plan-list");
    const kinds = Object.entries(KINDS).filter(([code]) => !(forMunicipality && code === "call_contact"));
    const sources = forMunicipality ? DEFAULT_SOURCES : SOURCES;
    let steps = [];

    function contactSelect(step) {
      const select = el("select", { ariaLabel: "Osoba bliska" },
        el("option", { value: "" }, "— wybierz osobę —"),
        ...contacts().map((c) => el("option", { value: String(c.id), selected: c.id === step.contact_id },
          `${c.name}${c.relation ? ` (${c.relation})` : ""}${c.has_key ? " · ma klucz" : ""}`)));
      select.addEventListener("change", () => { step.contact_id = select.value ? Number(select.value) : null; });
      return select;
    }

    function row(step, index) {
      if (!editable) {
        const contact = contacts().find((c) => c.id === step.contact_id);
        const words = step.kind === "instruction" ? step.text
          : step.kind === "call_contact" ? `Zadzwoń do: ${contact ? contact.name : "?"}` : KINDS[step.kind] || step.kind;
        return el("li", {}, words);
      }
      const kind = el("select", { ariaLabel: `Rodzaj kroku ${index + 1}` },
        ...kinds.map(([code, label]) => el("option", { value: code, selected: code === step.kind }, label)));
      kind.addEventListener("change", () => { step.kind = kind.value; draw(); });
      const text = el("input", {
        type: "text", maxLength: 500, value: step.text || "", ariaLabel: `Treść kroku ${index + 1}`,
        placeholder: step.kind === "instruction" ? "np. wnuczka ma klucz, mieszka piętro niżej" : "uwagi (opcjonalnie)",
      });
      text.addEventListener("input", () => { step.text = text.value; });
      const move = (by) => { const [s] = steps.splice(index, 1); steps.splice(index + by, 0, s); draw(); };
      return el("li", { className: "plan-edit-step" }, kind,
        step.kind === "call_contact" ? contactSelect(step) : null, text,
        el("button", { type: "button", className: "quiet", disabled: index === 0, title: "Wyżej", onclick: () => move(-1) }, "↑"),
        el("button", { type: "button", className: "quiet", disabled: index === steps.length - 1, title: "Niżej", onclick: () => move(1) }, "↓"),
        el("button", { type: "button", className: "quiet", title: "Usuń krok", onclick: () => { steps.splice(index, 1); draw(); } }, "Usuń"));
    }

    function draw() {
      list.replaceChildren(...steps.map(row));
    }

    function shown(plan) {
      document.getElementById("plan-source").textContent = sources[plan.source] || "";
      steps = plan.steps.map((s) => ({ kind: s.kind, contact_id: s.contact_id, text: s.text }));
      const reset = document.getElementById("plan-reset");
      if (reset) reset.hidden = plan.source !== "resident";
      draw();
    }

    async function save(body, said) {
      show("plan-error", "");
      show("plan-done", "");
      try {
        shown(await api("PUT", url(), body));
        show("plan-done", said);
      } catch (error) {
        show("plan-error", stepError(error));
      }
    }

    document.getElementById("plan-tools").hidden = !editable;
    if (editable) {
      document.getElementById("plan-add").addEventListener("click", () => {
        steps.push({ kind: "call_resident", contact_id: null, text: "" });
        draw();
      });
      document.getElementById("plan-save").addEventListener("click", () =>
        save({ steps: steps.map((s) => ({ kind: s.kind, contact_id: s.kind === "call_contact" ? s.contact_id : null, text: s.text || "" })) },
          "Plan zapisany."));
      const reset = document.getElementById("plan-reset");
      if (reset) reset.addEventListener("click", () => save({ steps: [] }, "Plan własny usunięty: obowiązuje plan domyślny gminy."));
    }
    return {
      async load() {
        show("plan-done", "");
        try { shown(await api("GET", url())); } catch (error) { show("plan-error", stepError(error)); }
      },
      redraw: draw,
    };
  }

  return { start };
})();
