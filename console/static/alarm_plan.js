// The alarm page's action plan: the resident's steps (their own plan, else the municipality's), in
// order, as a checklist. Each step is ticked "Zrobione" or "Pominięte" with a few words of what came
// of it; the tick is an entry in the alarm's history, and the list is read back from the server.
"use strict";
const AlarmPlan = (() => {
  const { el, clock } = Opaska;
  const SOURCES = {
    resident: "Plan mieszkańca",
    municipality: "Plan domyślny gminy (mieszkaniec nie ma własnego)",
  };
  const STATES = { done: "zrobione", skipped: "pominięte" };
  // Steps whose details the operator opens with the resident card's buttons (each opening audited).
  const REVEALS = { key_safe: "show-key-safe", medical: "show-medical" };
  // What the operator is typing per step: the page redraws on every live event of the alarm (a
  // relative's answer, another tick), and a redraw must not wipe half a sentence or the focus.
  const drafts = new Map();
  const reopened = new Set();

  function callLine(step) {
    if (!step.call_name && !step.call_phone) {
      return step.kind === "call_key_holder" ? el("span", { className: "muted" }, "nikt z bliskich nie ma klucza") : null;
    }
    return el("span", { className: "plan-call" }, step.call_name || "",
      step.call_phone ? el("a", { href: `tel:${step.call_phone}`, className: "phone" }, step.call_phone) : " (brak numeru)");
  }

  function stateLine(step) {
    if (!step.state) return null;
    const s = step.state;
    return el("span", { className: `plan-state ${s.status}` },
      `${STATES[s.status] || s.status} ${clock(s.at)}`, s.outcome ? ` — ${s.outcome}` : "");
  }

  function controls(step, onTick) {
    const outcome = el("input", {
      type: "text", maxLength: 300, placeholder: "co z tego wyszło (krótko)",
      ariaLabel: `Wynik kroku ${step.position}`, className: "plan-outcome", value: drafts.get(step.id) || "",
      dataset: { stepId: step.id },
    });
    outcome.addEventListener("input", () => drafts.set(step.id, outcome.value));
    const tick = (status) => onTick(step, status, outcome.value).then(() => {
      drafts.delete(step.id);
      reopened.delete(step.id);
    }, () => {});
    const reveal = REVEALS[step.kind];
    const revealButton = reveal && !document.getElementById(reveal).hidden
      ? el("button", { type: "button", className: "quiet", onclick: () => document.getElementById(reveal).click() },
        step.kind === "key_safe" ? "Pokaż kod" : "Pokaż informacje")
      : null;
    return el("div", { className: "plan-controls" }, revealButton, outcome,
      el("button", { type: "button", className: "primary", onclick: () => tick("done") }, "Zrobione"),
      el("button", { type: "button", onclick: () => tick("skipped") }, "Pomiń"));
  }

  // A ticked step keeps its tick in view; "Popraw" reopens it (a skipped call done after all).
  function tickable(step, onTick) {
    if (!step.state || reopened.has(step.id)) return controls(step, onTick);
    return el("button", { type: "button", className: "quiet small", onclick: (event) => {
      reopened.add(step.id);
      event.target.replaceWith(controls(step, onTick));
    } }, "Popraw");
  }

  function render(plan, { canAct, onTick }) {
    const section = document.getElementById("plan");
    const list = document.getElementById("plan-steps");
    if (!plan || !plan.steps.length) {
      document.getElementById("plan-source").textContent =
        "Brak planu działania dla tego mieszkańca i jego gminy — postępuj według procedury centrum.";
      list.replaceChildren();
      section.classList.add("empty");
      return;
    }
    section.classList.remove("empty");
    const focused = document.activeElement && document.activeElement.classList.contains("plan-outcome")
      ? { id: document.activeElement.dataset.stepId, at: document.activeElement.selectionStart } : null;
    const left = plan.steps.filter((step) => !step.state).length;
    document.getElementById("plan-source").textContent =
      `${SOURCES[plan.source] || ""} · ${left ? `zostało ${left} z ${plan.steps.length}` : "wszystkie kroki odhaczone"}`;
    const next = plan.steps.find((step) => !step.state);
    list.replaceChildren(...plan.steps.map((step) => el("li",
      { className: `plan-step ${step.state ? step.state.status : "todo"}${step === next ? " next" : ""}`,
        dataset: { stepId: step.id, kind: step.kind } },
      el("span", { className: "plan-label" }, step.label),
      step.text ? el("span", { className: "muted small" }, ` (${step.text})`) : null,
      " ", callLine(step), " ", stateLine(step),
      canAct ? tickable(step, onTick) : null)));
    if (focused) {
      const input = list.querySelector(`input.plan-outcome[data-step-id="${focused.id}"]`);
      if (input) { input.focus(); input.setSelectionRange(focused.at, focused.at); }
    }
  }

  return { render };
})();
