// The second factor's enrolment panel (templates/second_factor_enrol.html), shared by Moje konto
// and the enrolment a login must make: fills in the QR code, the key and the otpauth:// URI,
// asks for the first code, then shows the recovery codes once.
"use strict";
const OpaskaSecondFactor = (() => {
  // The key in groups of four, as the apps' "enter a setup key" screens read best.
  function grouped(secret) {
    return secret.replace(/(.{4})/g, "$1 ").trim();
  }

  function fill(root, enrolment) {
    const panel = root.querySelector("[data-enrol]");
    panel.querySelector("[data-qr]").src = enrolment.qr_svg;
    panel.querySelector("[data-secret]").textContent = grouped(enrolment.secret);
    panel.querySelector("[data-uri]").textContent = enrolment.otpauth_uri;
    panel.hidden = false;
    panel.querySelector("input[name=code]").focus();
  }

  function fieldError(root, text) {
    const node = root.querySelector("[data-enrol] [data-error]");
    node.textContent = text || "";
    node.hidden = !text;
  }

  // Shows the codes and hides the enrolment panel (its secret is not needed any more).
  function showRecoveryCodes(root, codes) {
    root.querySelector("[data-enrol]").hidden = true;
    const list = root.querySelector("[data-code-list]");
    list.replaceChildren(...codes.map((code) => {
      const item = document.createElement("li");
      const text = document.createElement("code");
      text.textContent = code;
      item.append(text);
      return item;
    }));
    root.querySelector("[data-codes]").hidden = false;
  }

  // confirm(code) -> a promise of the recovery codes; a rejection's message goes under the field.
  function onConfirm(root, confirm) {
    const form = root.querySelector("[data-enrol] form[data-confirm]");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const code = form.code.value.replace(/\s+/g, "");
      if (!/^\d{6}$/.test(code)) {
        fieldError(root, "Wpisz 6 cyfr z aplikacji.");
        return;
      }
      fieldError(root, "");
      const button = form.querySelector("button");
      button.disabled = true;
      try {
        showRecoveryCodes(root, await confirm(code));
      } catch (error) {
        fieldError(root, error.message);
        form.code.value = "";
        form.code.focus();
      }
      button.disabled = false;
    });
  }

  return { fill, onConfirm, showRecoveryCodes, grouped };
})();
