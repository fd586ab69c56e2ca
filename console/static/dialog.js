// In-page dialogs instead of the browser's prompt()/confirm(): they say what will happen in the
// console's own words, keep the alarm bar visible, and work from the keyboard: Enter confirms
// (Ctrl+Enter in a multi-line note), Escape cancels, Tab stays inside the dialog, and focus goes
// back where it was when the dialog closes.
"use strict";
const OpaskaDialog = (() => {
  const { el } = Opaska;

  function field(spec) {
    const id = `dialog-${spec.name}`;
    let control;
    if (spec.type === "select") {
      control = el("select", { id, name: spec.name, required: Boolean(spec.required) },
        el("option", { value: "" }, spec.placeholder || "— wybierz —"),
        ...spec.options.map(([value, label]) => el("option", { value }, label)));
    } else if (spec.type === "textarea") {
      control = el("textarea", { id, name: spec.name, rows: 3, maxLength: spec.maxLength || 2000, required: Boolean(spec.required) });
    } else {
      control = el("input", { id, name: spec.name, maxLength: spec.maxLength || 2000, required: Boolean(spec.required) });
    }
    if (spec.value !== undefined) control.value = spec.value;
    return [el("label", { htmlFor: id }, spec.label), control, el("p", { className: "field-error", hidden: true, dataset: { errorFor: spec.name } })];
  }

  function focusable(root) {
    return [...root.querySelectorAll("button, select, textarea, input, a[href]")].filter((n) => !n.disabled && !n.hidden);
  }

  // ask({ title, message, fields: [{name, label, type, options, required}], confirm, danger })
  // -> the fields' values ({} when there are none), or null when cancelled.
  function ask({ title, message, fields = [], confirm = "OK", cancel = "Anuluj", danger = false }) {
    return new Promise((resolve) => {
      const returnTo = document.activeElement;
      // Checked here, not by the browser's own tooltips: the message stays under the field.
      const form = el("form", { method: "dialog", className: "dialog-form", noValidate: true },
        el("h3", {}, title),
        message ? el("p", {}, message) : null,
        ...fields.flatMap(field),
        el("div", { className: "dialog-buttons" },
          el("button", { type: "button", className: "quiet", value: "cancel", dataset: { role: "cancel" } }, cancel),
          el("button", { type: "submit", className: danger ? "danger" : "primary", value: "ok" }, confirm)));
      const dialog = el("dialog", { className: "opaska-dialog" }, form);
      document.body.append(dialog);
      let answer = null;

      function close(value) {
        answer = value;
        dialog.close();
      }
      form.querySelector('[data-role="cancel"]').addEventListener("click", () => close(null));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const values = {};
        let ok = true;
        for (const spec of fields) {
          const control = form.elements[spec.name];
          const value = control.value.trim();
          const error = form.querySelector(`[data-error-for="${spec.name}"]`);
          const missing = spec.required && !value;
          error.hidden = !missing;
          error.textContent = missing ? (spec.requiredMessage || "To pole jest wymagane.") : "";
          if (missing) { if (ok) control.focus(); ok = false; }
          values[spec.name] = value;
        }
        if (ok) close(values);
      });
      form.addEventListener("keydown", (event) => {
        const multiLine = event.target.tagName === "TEXTAREA";
        if (event.key === "Enter" && (event.target.tagName === "SELECT" || (multiLine && (event.ctrlKey || event.metaKey)))) {
          event.preventDefault();
          form.requestSubmit();
        } else if (event.key === "Tab") {
          const nodes = focusable(form);
          const first = nodes[0], last = nodes[nodes.length - 1];
          if (event.shiftKey && document.activeElement === first) { event.preventDefault(); last.focus(); }
          else if (!event.shiftKey && document.activeElement === last) { event.preventDefault(); first.focus(); }
        }
      });
      form.addEventListener("input", (event) => {
        const error = event.target.name && form.querySelector(`[data-error-for="${event.target.name}"]`);
        if (error) error.hidden = true;
      });
      dialog.addEventListener("cancel", () => { answer = null; }); // Escape
      dialog.addEventListener("close", () => {
        dialog.remove();
        if (returnTo && typeof returnTo.focus === "function") returnTo.focus();
        resolve(answer);
      });
      dialog.showModal();
      const first = fields.length ? form.elements[fields[0].name] : form.querySelector('button[type="submit"]');
      first.focus();
    });
  }

  async function confirmed(title, message, { confirm = "Tak", danger = false } = {}) {
    return (await ask({ title, message, confirm, danger })) !== null;
  }

  return { ask, confirmed };
})();
