// Moje konto: the person's own second factor (turn on with the app's first code, recovery codes
// shown once; turn off with the password or a code) and, for administrators, everyone's, with a
// reset for a lost phone.
"use strict";
(() => {
  const { api, show, dateTime, el } = Opaska;
  const section = document.getElementById("second-factor");
  const turnOn = document.getElementById("second-factor-on");
  const offForm = document.getElementById("second-factor-off");

  function render(state) {
    if (!state.may_enrol && !state.enabled) {
      section.hidden = true;
      return;
    }
    section.hidden = false;
    const stateText = state.enabled
      ? `Włączone od ${dateTime(state.enabled_at)}. Pozostałe kody odzyskiwania: ${state.recovery_codes_left}.`
      : "Wyłączone.";
    show("second-factor-state", state.required ? `${stateText} Centrum wymaga go od Twojej roli.` : stateText);
    turnOn.hidden = state.enabled;
    offForm.hidden = !state.enabled || state.required;
  }

  async function refresh() {
    try {
      render(await api("GET", "/api/me/second-factor"));
    } catch (error) {
      show("second-factor-error", `Nie udało się wczytać: ${error.message}`);
    }
  }

  turnOn.addEventListener("click", async () => {
    show("second-factor-error", "");
    show("second-factor-done", "");
    try {
      OpaskaSecondFactor.fill(section, await api("POST", "/api/me/second-factor/enrolment"));
      turnOn.hidden = true;
    } catch (error) {
      show("second-factor-error", error.status === 503
        ? "Konsola nie ma klucza szyfrującego (OPASKA_CONSOLE_DATA_KEY): zgłoś to administratorowi."
        : error.message);
    }
  });

  OpaskaSecondFactor.onConfirm(section, async (code) => {
    try {
      const answer = await api("POST", "/api/me/second-factor/confirm", { code });
      show("second-factor-done", "Logowanie dwuetapowe włączone.");
      refresh();
      return answer.recovery_codes;
    } catch (error) {
      throw new Error(error.status === 422 ? "Nieprawidłowy kod. Wpisz kod, który aplikacja pokazuje teraz." : error.message);
    }
  });

  offForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    show("off-error", "");
    const password = offForm.password.value;
    const code = offForm.code.value.trim();
    if (!password === !code) {
      show("off-error", "Podaj hasło albo kod (jedno z nich).");
      return;
    }
    try {
      await api("POST", "/api/me/second-factor/disable", password ? { password } : { code });
      offForm.reset();
      document.querySelector("#second-factor [data-codes]").hidden = true;
      show("second-factor-done", "Logowanie dwuetapowe wyłączone.");
      refresh();
    } catch (error) {
      show("off-error", error.status === 422 ? "Nieprawidłowe hasło lub kod."
        : error.status === 429 ? "Zbyt wiele nieudanych prób. Spróbuj ponownie za chwilę." : error.message);
      offForm.reset();
    }
  });

  refresh();

  // Administrators: everyone's second factor, and a reset.
  const rows = document.getElementById("staff-second-factor-rows");
  if (!rows) return;
  const ROLES = { operator: "operator", supervisor: "koordynator zmiany", technician: "technik", administrator: "administrator" };
  const CHANGES = {
    enrolled: "włączony", disabled: "wyłączony", reset: "zresetowany", recovery_code_used: "użyto kodu odzyskiwania",
  };

  async function loadStaff() {
    let answer;
    try {
      answer = await api("GET", "/api/staff/second-factor");
    } catch (error) {
      show("staff-second-factor-error", `Nie udało się wczytać: ${error.message}`);
      return;
    }
    rows.replaceChildren(...answer.staff.map((member) => {
      const state = member.enabled ? "włączony" : member.required ? "wyłączony — wymagany przy logowaniu" : "wyłączony";
      const change = member.last_change
        ? `${CHANGES[member.last_change] || member.last_change}, ${dateTime(member.last_change_at)} (${member.last_change_by})` : "—";
      const cell = el("td");
      if (member.enabled) {
        const button = el("button", { type: "button", className: "danger-quiet" }, "Resetuj");
        button.addEventListener("click", () => reset(member));
        cell.append(button);
      }
      return el("tr", { dataset: { username: member.username } },
        el("td", {}, member.full_name), el("td", {}, member.username), el("td", {}, ROLES[member.role] || member.role),
        el("td", {}, state), el("td", {}, change), cell);
    }));
  }

  async function reset(member) {
    const sure = await OpaskaDialog.confirmed(
      `Zresetować logowanie dwuetapowe: ${member.full_name}?`,
      "Drugi składnik zostanie usunięty, a sesje tej osoby zakończone. Reset zostanie zapisany.",
      { confirm: "Resetuj", danger: true });
    if (!sure) return;
    try {
      await api("POST", `/api/staff/${member.id}/second-factor/reset`);
      show("staff-second-factor-error", "");
    } catch (error) {
      show("staff-second-factor-error", error.message);
    }
    loadStaff();
  }

  loadStaff();
})();
