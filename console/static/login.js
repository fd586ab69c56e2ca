"use strict";
const form = document.getElementById("login");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const username = form.username.value.trim();
  const password = form.password.value;
  if (!username || !password) {
    error.textContent = "Podaj login i hasło.";
    error.hidden = false;
    return;
  }
  const button = form.querySelector("button");
  button.disabled = true;
  try {
    const response = await fetch("/api/login", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ username, password }),
    });
    if (response.status === 202) {
      // The password was right; the second factor is next (a code, or its enrolment).
      location.href = `/login/second-factor?next=${encodeURIComponent(form.dataset.next || "/")}`;
      return;
    }
    if (response.ok) {
      location.href = form.dataset.next || "/";
      return;
    }
    if (response.status === 429) {
      const wait = Number(response.headers.get("Retry-After") || "60");
      error.textContent = `Zbyt wiele nieudanych prób. Spróbuj ponownie za ${Math.ceil(wait / 60)} min.`;
    } else if (response.status === 401) {
      error.textContent = "Nieprawidłowy login lub hasło.";
    } else {
      error.textContent = `Logowanie nie powiodło się (błąd ${response.status}).`;
    }
  } catch (failure) {
    error.textContent = "Brak połączenia z konsolą.";
  }
  error.hidden = false;
  form.password.value = "";
  form.password.focus();
  button.disabled = false;
});
