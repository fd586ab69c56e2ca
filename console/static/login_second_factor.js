// The login's second step (/login/second-factor): the code from the app (or a recovery code), or,
// when the role must have a second factor and the account has none, its enrolment. The session
// opens only when this step succeeds; the step's own token goes in X-CSRF-Token.
"use strict";
(() => {
  const main = document.getElementById("second-step");
  const next = main.dataset.next || "/";
  const token = document.querySelector('meta[name="login-step-token"]').content;

  class StepError extends Error {
    constructor(status, message, retryAfter) { super(message); this.status = status; this.retryAfter = retryAfter; }
  }

  async function post(url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": token },
        body: JSON.stringify(body || {}),
      });
    } catch (failure) {
      throw new StepError(0, "Brak połączenia z konsolą.");
    }
    let data = null;
    try { data = await response.json(); } catch (failure) { data = null; }
    if (response.ok) return data;
    const detail = data && typeof data.detail === "string" ? data.detail : "";
    throw new StepError(response.status, detail, Number(response.headers.get("Retry-After") || "0"));
  }

  function startAgain(text) {
    const error = document.getElementById("code-error") || document.getElementById("enrol-error");
    error.textContent = `${text} Za chwilę wrócisz do logowania.`;
    error.hidden = false;
    setTimeout(() => { location.href = `/login?next=${encodeURIComponent(next)}`; }, 2500);
  }

  function explain(error) {
    if (error.status === 429) return `Zbyt wiele nieudanych prób. Spróbuj ponownie za ${Math.max(1, Math.ceil(error.retryAfter / 60))} min.`;
    if (error.status === 401 || error.status === 422) return "Nieprawidłowy albo już użyty kod. Wpisz kod, który aplikacja pokazuje teraz.";
    if (error.status === 0) return error.message;
    return `Nie udało się (błąd ${error.status}).`;
  }

  const codeForm = document.getElementById("code-form");
  if (codeForm) {
    const error = document.getElementById("code-error");
    codeForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const code = codeForm.code.value.trim();
      if (!code) {
        error.textContent = "Wpisz kod z aplikacji.";
        error.hidden = false;
        return;
      }
      const button = codeForm.querySelector("button");
      button.disabled = true;
      try {
        await post("/api/login/code", { code });
        location.href = next;
        return;
      } catch (failure) {
        if (failure.status === 401 && /log in again/.test(failure.message)) {
          startAgain(/too many/.test(failure.message) ? "Zbyt wiele błędnych kodów." : "Logowanie wygasło.");
          return;
        }
        error.textContent = explain(failure);
        error.hidden = false;
      }
      codeForm.code.value = "";
      codeForm.code.focus();
      button.disabled = false;
    });
    return;
  }

  // Enrolment the role requires, before the console opens.
  const section = main.querySelector(".second-factor-forced");
  const enrolError = document.getElementById("enrol-error");
  const done = document.getElementById("enrol-done");
  OpaskaSecondFactor.onConfirm(section, async (code) => {
    try {
      const answer = await post("/api/login/enrolment/confirm", { code });
      done.hidden = false;
      done.focus();
      return answer.recovery_codes;
    } catch (failure) {
      if (failure.status === 401) startAgain("Logowanie wygasło.");
      throw new Error(explain(failure));
    }
  });
  done.addEventListener("click", () => { location.href = next; });
  post("/api/login/enrolment").then(
    (enrolment) => OpaskaSecondFactor.fill(section, enrolment),
    (failure) => {
      if (failure.status === 401) { startAgain("Logowanie wygasło."); return; }
      enrolError.textContent = failure.status === 503
        ? "Konsola nie ma klucza szyfrującego (OPASKA_CONSOLE_DATA_KEY): zgłoś to administratorowi."
        : explain(failure);
      enrolError.hidden = false;
    });
})();
