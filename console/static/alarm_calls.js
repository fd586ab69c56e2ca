// The alarm page's telephone: call buttons (the band's SIM, the resident, each contact, the on-duty
// responder), each disabled with its reason when there is nothing to dial or someone is already on
// that number; the calls in progress (who, whom, status, how long, which operator) with "Dodaj do
// rozmowy" (three-way) and "Rozłącz"; a waiting call in with "Odbierz"; and the calls that ended.
// Every operator sees the same: the page re-renders on each call event of the live feed.
"use strict";
const AlarmCalls = (() => {
  const { api, el, show, duration, secondsSince, clock } = Opaska;
  // Recordings are played to supervisors only (the API says the same); each playing is audited.
  const PLAYS_RECORDINGS = ["supervisor", "administrator"].includes(document.body.dataset.role);
  const ALARM_ID = Number(document.getElementById("alarm").dataset.alarmId);
  const STATUSES = {
    calling_operator: "dzwoni na telefon operatora", ringing: "dzwoni u rozmówcy", queued: "czeka na operatora",
    answering: "łączenie z operatorem", in_progress: "rozmowa trwa", completed: "zakończona", busy: "zajęte",
    no_answer: "nie odebrano", failed: "nieudane", canceled: "przerwane", abandoned: "rozłączył się, czekając",
  };
  const KINDS = { band: "opaska", resident: "podopieczny", contact: "bliski", responder: "dyżurny", unknown: "nieznany numer" };
  const PAST_SHOWN = 5;
  // The call-targets answer is kept a while: it changes rarely (a new contact, the next duty shift).
  const TARGETS_FRESH_MS = 15000;
  const state = { detail: null, canAct: false, targets: null, targetsAt: 0, loading: false, busy: false };

  function label(target) {
    if (target.target === "band") return "Zadzwoń do opaski";
    if (target.target === "resident") return "Zadzwoń do podopiecznego";
    if (target.target === "responder") return target.target_id ? `Rozmowa z dyżurnym: ${target.name}` : "Rozmowa z dyżurnym";
    return `Rozmowa: ${target.name}`;
  }

  function whom(call) {
    const kind = KINDS[call.target] || call.target;
    return call.target_name && call.target !== "band" ? `${call.target_name} (${kind})` : call.target_name || kind;
  }

  function liveOn(number) {
    return (state.detail ? state.detail.calls : []).find((c) => c.live && c.number === number);
  }

  // The reason a target cannot be called now, or null.
  function blocked(target) {
    if (!target.number) return target.reason || "brak numeru";
    const live = liveOn(target.number);
    if (live) return `trwa połączenie — prowadzi ${live.staff_name || "inny operator"}`;
    return null;
  }

  function fieldMessage(error) {
    const data = error.data;
    if (data && Array.isArray(data.detail)) return data.detail.map((d) => d.msg).join("; ");
    return error.message;
  }

  // 422 (no operator phone, no number), 409 (who has it), 503 (telephone down: the number to dial by hand).
  function explain(error) {
    const text = fieldMessage(error);
    if (error.status === 503) {
      const number = error.data && error.data.number;
      return number && !text.includes(number) ? `${text} — numer: ${number}` : text;
    }
    if (error.status === 403) return "Nie masz uprawnień do tej czynności.";
    return text;
  }

  async function request(method, url, body, done) {
    show("call-error", "");
    show("call-done", "");
    state.busy = true;
    draw();
    try {
      const result = await api(method, url, body);
      if (done) show("call-done", done(result));
      if (result && result.id && state.detail) {
        state.detail.calls = [...state.detail.calls.filter((c) => c.id !== result.id), result].sort((a, b) => a.id - b.id);
      }
      return result;
    } catch (error) {
      show("call-error", explain(error));
      if (error.status === 409 && error.data && error.data.call && state.detail) {
        const held = error.data.call;
        state.detail.calls = [...state.detail.calls.filter((c) => c.id !== held.id), held].sort((a, b) => a.id - b.id);
      }
      return null;
    } finally {
      state.busy = false;
      draw();
    }
  }

  function place(target) {
    request("POST", `/api/alarms/${ALARM_ID}/calls`, { target: target.target, target_id: target.target_id },
      () => `Odbierz swój telefon — po odebraniu centrala połączy Cię z: ${target.name} (${target.number}).`);
  }

  async function addTo(call) {
    const free = (state.targets || []).filter((t) => !blocked(t));
    if (!free.length) { show("call-error", "Nie ma kogo dodać: nikt inny nie ma numeru albo wszyscy już rozmawiają."); return; }
    const answer = await OpaskaDialog.ask({
      title: "Dodaj do rozmowy",
      message: `Rozmowa z: ${whom(call)}. Wybrana osoba zostanie połączona do tej samej rozmowy (numer centrali jako numer dzwoniącego).`,
      fields: [{ name: "who", label: "Kogo dodać", type: "select", required: true, requiredMessage: "Wybierz osobę.",
        options: free.map((t, i) => [String(i), `${t.name} (${KINDS[t.target] || t.target}, ${t.number})`]) }],
      confirm: "Dodaj",
    });
    if (answer === null) return;
    const target = free[Number(answer.who)];
    request("POST", `/api/alarms/${ALARM_ID}/calls/${call.id}/add`, { target: target.target, target_id: target.target_id },
      () => `Dzwonimy do: ${target.name} — dołączy do rozmowy.`);
  }

  async function hangUp(call) {
    const ok = await OpaskaDialog.confirmed(`Rozłączyć: ${whom(call)}?`,
      "Połączenie z tą osobą zostanie zakończone (pozostali w rozmowie rozmawiają dalej).", { confirm: "Rozłącz", danger: true });
    if (!ok) return;
    request("POST", `/api/alarms/${ALARM_ID}/calls/${call.id}/hang-up`, undefined, () => "Rozłączono.");
  }

  function answerIncoming(call) {
    request("POST", `/api/alarms/${ALARM_ID}/calls/${call.id}/answer`, undefined,
      () => "Odbierz swój telefon — centrala połączy Cię z dzwoniącym.");
  }

  function targetButton(target) {
    const why = blocked(target);
    const button = el("button", {
      type: "button", className: target.target === "band" ? "primary" : "",
      disabled: Boolean(why) || !state.canAct || state.busy, title: why || `${target.name}: ${target.number}`,
      dataset: { callTarget: target.target, callTargetId: target.target_id ?? "" },
      onclick: () => place(target),
    }, label(target));
    return el("span", { className: "call-target" }, button, " ",
      why ? el("small", { className: "muted small call-why" }, why) : el("small", { className: "muted small" }, target.number));
  }

  // "0:42" talking, "dzwoni 0:07" ringing, "czeka 1:10" queued.
  function running(call) {
    if (call.status === "in_progress" && call.answered_at) return duration(secondsSince(call.answered_at));
    if (call.status === "queued" && call.waiting_since) return `czeka ${duration(secondsSince(call.waiting_since))}`;
    return duration(secondsSince(call.created_at));
  }

  function liveRow(call) {
    const actions = [];
    if (state.canAct && call.direction === "inbound" && call.status === "queued") {
      actions.push(el("button", { type: "button", className: "primary", disabled: state.busy, onclick: () => answerIncoming(call) }, "Odbierz"));
    }
    if (state.canAct && call.direction === "outbound" && (call.status === "ringing" || call.status === "in_progress")) {
      actions.push(el("button", { type: "button", disabled: state.busy, onclick: () => addTo(call) }, "Dodaj do rozmowy"));
    }
    if (state.canAct) {
      actions.push(el("button", { type: "button", className: "danger-quiet", disabled: state.busy, onclick: () => hangUp(call) }, "Rozłącz"));
    }
    const incoming = call.direction === "inbound";
    return el("tr", { className: `call call-${call.status}`, dataset: { callId: call.id, callStatus: call.status } },
      el("td", {}, incoming ? el("strong", {}, "Połączenie przychodzące: ") : null, whom(call),
        el("div", { className: "muted small" }, call.number)),
      el("td", { className: "call-status" }, STATUSES[call.status] || call.status),
      el("td", { className: "call-time", dataset: { callTime: call.id } }, running(call)),
      el("td", {}, call.staff_name || "—"),
      el("td", { className: "call-actions" }, ...actions.flatMap((button) => [button, " "])));
  }

  function pastLine(call) {
    const how = STATUSES[call.status] || call.status;
    const talk = call.duration_s !== null && call.duration_s !== undefined ? `, ${duration(call.duration_s)}` : "";
    return el("li", { dataset: { callId: call.id, callStatus: call.status } },
      el("time", { dateTime: call.created_at }, clock(call.created_at)), " ",
      call.direction === "inbound" ? `${whom(call)} → centrala` : `${call.staff_name || "operator"} → ${whom(call)}`,
      `: ${how}${talk}`, call.error && call.status !== "completed" ? el("span", { className: "muted small" }, ` (${call.error})`) : null,
      call.recording ? el("span", { className: "muted small" }, " · nagranie") : null,
      call.recording && PLAYS_RECORDINGS ? " " : null,
      call.recording && PLAYS_RECORDINGS
        ? el("button", { type: "button", className: "quiet small", onclick: () => play(call) }, "Odsłuchaj") : null);
  }

  // The player lives outside the lists the live feed redraws, so a new event never stops it.
  // Nothing is fetched until "Odsłuchaj": every fetch of a recording is an audited playing.
  function play(call) {
    const player = document.getElementById("recording-player");
    const close = el("button", { type: "button", className: "quiet", onclick: () => { player.replaceChildren(); player.hidden = true; } }, "Zamknij");
    player.replaceChildren(
      el("p", {}, `Nagranie rozmowy: ${whom(call)}, ${clock(call.created_at)} `, close),
      el("audio", { controls: true, autoplay: true, preload: "none", src: `/api/alarms/${ALARM_ID}/calls/${call.id}/recording` }));
    player.hidden = false;
  }

  function draw() {
    if (!state.detail) return;
    const calls = state.detail.calls || [];
    const live = calls.filter((c) => c.live);
    const past = calls.filter((c) => !c.live).slice(-PAST_SHOWN).reverse();
    const buttons = document.getElementById("call-buttons");
    if (state.targets === null) buttons.replaceChildren(el("span", { className: "muted small" }, "wczytywanie…"));
    else buttons.replaceChildren(...state.targets.map(targetButton));
    document.getElementById("calls-note").hidden = state.canAct;
    const table = document.getElementById("live-calls");
    table.hidden = !live.length;
    table.querySelector("tbody").replaceChildren(...live.map(liveRow));
    document.getElementById("no-live-calls").hidden = Boolean(live.length);
    document.getElementById("past-calls").replaceChildren(...(past.length
      ? [el("h4", {}, "Zakończone"), el("ul", { className: "notifications" }, ...past.map(pastLine))] : []));
  }

  async function loadTargets(force) {
    if (state.loading || (!force && state.targets !== null && Date.now() - state.targetsAt < TARGETS_FRESH_MS)) return;
    state.loading = true;
    try {
      state.targets = await api("GET", `/api/alarms/${ALARM_ID}/call-targets`);
      state.targetsAt = Date.now();
      draw();
    } catch (error) {
      document.getElementById("call-buttons").replaceChildren(
        el("span", { className: "error" }, `Nie udało się wczytać numerów: ${error.message}`));
    } finally {
      state.loading = false;
    }
  }

  // canAct: the user handles alarms and this one is open.
  function render(detail, { canAct }) {
    state.detail = { ...detail, calls: [...(detail.calls || [])] };
    state.canAct = canAct;
    draw();
    loadTargets(false);
  }

  // Running durations tick without a reload.
  setInterval(() => {
    if (!state.detail) return;
    for (const call of state.detail.calls.filter((c) => c.live)) {
      const cell = document.querySelector(`[data-call-time="${call.id}"]`);
      if (cell) cell.textContent = running(call);
    }
  }, 1000);

  return { render };
})();
