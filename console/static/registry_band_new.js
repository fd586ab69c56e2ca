// Registering a band: serial or IMEI, model, firmware, SIM, and the resident who gets it. The
// band's secret is shown once, in a box of its own.
"use strict";
{
  const { api, el, show } = Opaska;
  const { errorText, busy, formValues } = Registry;
  const $ = (id) => document.getElementById(id);

  async function residents() {
    const chosen = new URLSearchParams(location.search).get("resident_id");
    try {
      const list = await api("GET", "/api/registry/residents");
      for (const r of list) {
        const worn = r.bands.length ? ` — ma opaskę ${r.bands.join(", ")}` : "";
        $("b-resident").append(el("option", { value: String(r.id) }, `${r.last_name} ${r.first_name}, ${r.address || r.municipality}${worn}`));
      }
      if (chosen) $("b-resident").value = chosen;
    } catch (error) {
      show("band-error", errorText(error));
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    residents();
    const form = $("band-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const v = formValues(form);
      if (!v.serial && !v.imei) { show("band-error", "Podaj numer seryjny albo IMEI opaski."); return; }
      const body = {
        serial: v.serial || null, imei: v.imei || null, model: v.model, firmware: v.firmware,
        sim_phone: v.sim_phone || null, resident_id: v.resident_id ? Number(v.resident_id) : null,
      };
      try {
        const registered = await busy(form.querySelector("button[type=submit]"), () => api("POST", "/api/registry/bands", body));
        show("band-error", "");
        $("register").hidden = true;
        $("secret-username").textContent = registered.username;
        $("secret-value").textContent = registered.secret;
        $("go-band").href = `/registry/bands/${registered.band.id}`;
        $("secret-box").hidden = false;
        // The form goes: its values, and with them nothing of the secret, stay in no field to resend.
        form.reset();
      } catch (error) {
        show("band-error", errorText(error));
      }
    });
  });
}
