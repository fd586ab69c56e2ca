// Moje konto: the operator's own phone (or SIP address) that the centre rings first for a call
// placed from an alarm page. Saved with PUT /api/me/phone; a wrong one is explained under the field.
"use strict";
(() => {
  const { api, show } = Opaska;
  const form = document.getElementById("phone-form");
  const input = document.getElementById("phone");

  function current(phone) {
    document.getElementById("phone-current").textContent = phone
      ? `Zapisany: ${phone}` : "Brak numeru: połączenia z alarmów nie zadzwonią do Ciebie, dopóki go nie podasz.";
    input.value = phone || "";
  }

  async function save(phone) {
    show("phone-error", "");
    show("phone-done", "");
    try {
      const saved = await api("PUT", "/api/me/phone", { phone });
      current(saved.phone);
      show("phone-done", saved.phone ? "Numer zapisany." : "Numer usunięty.");
    } catch (error) {
      const field = error.data && Array.isArray(error.data.detail)
        ? error.data.detail.find((d) => (d.loc || []).includes("phone")) : null;
      show("phone-error", field ? field.msg : error.message);
      input.focus();
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    save(input.value.trim() || null);
  });
  document.getElementById("phone-clear").addEventListener("click", async () => {
    if (!await OpaskaDialog.confirmed("Usunąć numer?", "Bez numeru nie zadzwonisz z alarmu przez centralę.", { confirm: "Usuń", danger: true })) return;
    save(null);
  });

  api("GET", "/api/me/phone").then((data) => current(data.phone), (error) => show("load-error", `Nie udało się wczytać: ${error.message}`));
})();
