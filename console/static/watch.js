// The alarm bar on every page of a person who handles alarms: how many alarms wait unclaimed and
// for how long, the page title prefixed with that count, and the alarm sound on whatever page is
// open until each alarm is claimed or silenced. An operator busy with alarm A never misses alarm B.
//
// One sound state per browser, not per page: the alarms silenced are kept in localStorage (and
// other tabs follow through its "storage" event), so moving between pages neither restarts a
// silenced alarm nor forgets one. Installation tests (is_test) never ring: they are the technician's.
"use strict";
const AlarmWatch = (() => {
  const { KINDS, LIFE_KINDS, el, secondsSince, duration, ageClass, residentName, onLive, setTitlePrefix } = Opaska;
  const SILENCED_KEY = "opaska.silenced";
  const alarms = new Map();
  let seen = null; // alarm ids known at the first snapshot: nothing before it is "new"
  const bar = document.getElementById("alarm-bar");

  // ---- what is silenced (shared by every page and tab of this browser)

  // Keys: "a:<alarm id>" for an alarm waiting to be claimed, "c:<alarm id>:<since>" for a caller
  // waiting on the line (a new call on the same alarm rings again).
  function silenced() {
    try {
      return new Set(JSON.parse(localStorage.getItem(SILENCED_KEY) || "[]").map((k) => (typeof k === "number" ? `a:${k}` : k)));
    } catch (error) { return new Set(); }
  }
  function saveSilenced(ids) {
    localStorage.setItem(SILENCED_KEY, JSON.stringify([...ids]));
  }
  function silence(key) {
    const keys = silenced();
    keys.add(key);
    saveSilenced(keys);
    update();
  }
  // Forget silenced ones no longer waiting, so the list never grows over a shift.
  function pruneSilenced() {
    const waiting = new Set(attention().map((item) => item.key));
    const keys = silenced();
    const kept = [...keys].filter((key) => waiting.has(key));
    if (kept.length !== keys.size) saveSilenced(kept);
  }
  window.addEventListener("storage", (event) => { if (event.key === SILENCED_KEY) update(); });

  // ---- the sound: a two-tone alarm for life alarms, repeating; a soft chime for technical ones

  const sound = { context: null, timer: null };

  function audio() {
    if (!sound.context) {
      try { sound.context = new AudioContext(); } catch (error) { return null; }
      sound.context.onstatechange = update;
    }
    return sound.context;
  }

  function blocked() {
    const context = audio();
    return !context || context.state !== "running";
  }

  // Browsers start audio only after the person has done something on the page; the first click or
  // key anywhere (usually their first action) unlocks it, and the bar offers a click meanwhile.
  async function unlock() {
    const context = audio();
    if (!context) return;
    try { await context.resume(); } catch (error) { /* still blocked: the bar says so */ }
    update();
  }
  for (const type of ["pointerdown", "keydown"]) document.addEventListener(type, unlock, { capture: true });

  function tone(context, { frequency, start, length, volume, type = "sine" }) {
    const oscillator = context.createOscillator();
    const gain = context.createGain();
    oscillator.type = type;
    oscillator.frequency.value = frequency;
    // A short rise and fall: no clicks, and the tone is heard as a tone, not a buzz.
    gain.gain.setValueAtTime(0.0001, start);
    gain.gain.exponentialRampToValueAtTime(volume, start + 0.02);
    gain.gain.setValueAtTime(volume, start + length - 0.05);
    gain.gain.exponentialRampToValueAtTime(0.0001, start + length);
    oscillator.connect(gain).connect(context.destination);
    oscillator.start(start);
    oscillator.stop(start + length + 0.01);
  }

  // Hi-lo twice: the telecare "someone needs help" call, recognisable across a room.
  function siren() {
    const context = audio();
    if (!context || context.state !== "running") return;
    const now = context.currentTime;
    for (let i = 0; i < 4; i++) {
      tone(context, { frequency: i % 2 ? 740 : 988, start: now + i * 0.42, length: 0.38, volume: 0.6, type: "triangle" });
    }
  }

  function chime() {
    const context = audio();
    if (!context || context.state !== "running") return;
    tone(context, { frequency: 1047, start: context.currentTime, length: 0.6, volume: 0.12 });
  }

  // ---- the alarms

  function unclaimed() {
    return [...alarms.values()].filter((a) => a.status === "raised" && !a.is_test)
      .sort((a, b) => a.raised_at.localeCompare(b.raised_at));
  }

  // What needs someone now, oldest first: alarms nobody has claimed, and callers waiting on the
  // line of an alarm someone has (its operator may be busy elsewhere: everyone sees the caller).
  function attention() {
    const items = unclaimed().map((alarm) => ({ key: `a:${alarm.id}`, alarm, since: alarm.raised_at, caller: false }));
    for (const alarm of alarms.values()) {
      if (alarm.caller_waiting_since && alarm.status === "claimed" && !alarm.is_test) {
        items.push({ key: `c:${alarm.id}:${alarm.caller_waiting_since}`, alarm, since: alarm.caller_waiting_since, caller: true });
      }
    }
    return items.sort((a, b) => a.since.localeCompare(b.since));
  }

  function loud(item) {
    return item.caller || LIFE_KINDS.has(item.alarm.kind) || Boolean(item.alarm.caller_waiting_since);
  }

  function ringing() {
    const quiet = silenced();
    return attention().filter((item) => loud(item) && !quiet.has(item.key)).map((item) => item.alarm);
  }

  function ring(on) {
    document.body.dataset.sound = on ? (blocked() ? "blocked" : "ringing") : blocked() ? "off" : "quiet";
    if (on && !sound.timer) {
      siren();
      sound.timer = setInterval(siren, 3000);
    } else if (!on && sound.timer) {
      clearInterval(sound.timer);
      sound.timer = null;
    }
  }

  // The bar's chips are kept and changed in place, not rebuilt every second: a click on "Wycisz"
  // must land on the button it was aimed at.
  const chips = new Map();

  function chip(item) {
    const { alarm } = item;
    const life = loud(item);
    const what = item.caller ? `Dzwoni: ${residentName(alarm)} (${alarm.claimed_by_name || "przyjęty"})`
      : `${KINDS[alarm.kind] || alarm.kind}: ${residentName(alarm)}`;
    const node = el("span", { className: `bar-alarm ${life ? "life" : "technical"}${item.caller ? " caller" : ""}`, dataset: { alarmId: alarm.id, key: item.key } },
      el("a", { href: `/alarms/${alarm.id}` }, what),
      el("span", { className: "phone-waiting", title: "dzwoniący czeka na linii" }, "☎"),
      el("span", { className: "age" }),
      life ? el("button", { type: "button", className: "silence", title: "Wycisz (nadal czeka)", onclick: () => silence(item.key) }, "Wycisz") : null,
      life ? el("span", { className: "muted small silenced-note" }, "wyciszony") : null);
    return node;
  }

  function showChips(waiting, quiet, now) {
    const list = document.getElementById("alarm-bar-list");
    // At most four: the bar stays one line on a 1024 px screen; the rest are counted.
    const shown = waiting.slice(0, 4);
    const keys = new Set(shown.map((item) => item.key));
    for (const [key, node] of chips) if (!keys.has(key)) { node.remove(); chips.delete(key); }
    shown.forEach((item, index) => {
      if (!chips.has(item.key)) chips.set(item.key, chip(item));
      const node = chips.get(item.key);
      const waited = secondsSince(item.since, now);
      const age = node.querySelector(".age");
      age.textContent = duration(waited);
      age.className = `age ${ageClass(waited)}`;
      node.querySelector(".phone-waiting").hidden = !item.alarm.caller_waiting_since;
      const isQuiet = quiet.has(item.key);
      node.classList.toggle("silenced", isQuiet);
      const button = node.querySelector("button.silence");
      if (button) button.hidden = isQuiet;
      const note = node.querySelector(".silenced-note");
      if (note) note.hidden = !isQuiet;
      if (list.children[index] !== node) list.insertBefore(node, list.children[index] || null);
    });
    let more = list.querySelector("a.more");
    if (waiting.length > shown.length) {
      if (!more) { more = el("a", { href: "/", className: "more" }); list.append(more); }
      more.textContent = `i ${waiting.length - shown.length} więcej…`;
    } else if (more) more.remove();
  }

  function update() {
    if (!bar) return;
    const now = Date.now();
    const waiting = attention();
    const unclaimedCount = waiting.filter((item) => !item.caller).length;
    const callers = waiting.length - unclaimedCount;
    const quiet = silenced();
    const ringingNow = ringing();
    const tests = installationTests.bands;
    bar.classList.toggle("alerting", ringingNow.length > 0);
    bar.classList.toggle("waiting", waiting.length > 0);
    const oldest = waiting[0];
    const parts = [];
    if (unclaimedCount) parts.push(`Nieprzyjęte alarmy: ${unclaimedCount}`);
    if (callers) parts.push(`dzwoniący czeka: ${callers}`);
    document.getElementById("alarm-bar-count").textContent = waiting.length
      ? `${parts.join(" · ")} · najdłużej czeka ${duration(secondsSince(oldest.since, now))}`
      : "Brak nieprzyjętych alarmów";
    showChips(waiting, quiet, now);
    const soundButton = document.getElementById("sound");
    const off = blocked();
    soundButton.hidden = !off;
    document.getElementById("sound-state").textContent = off ? "Dźwięk wyłączony" : "Dźwięk włączony";
    document.getElementById("sound-state").className = off ? "sound-state off" : "sound-state";
    const testNote = document.getElementById("tests-in-progress");
    testNote.hidden = tests === 0;
    testNote.textContent = `testy instalacyjne w toku: ${tests}`;
    testNote.title = `opasek w trybie testowym: ${tests}; otwartych alarmów testowych: ${installationTests.alarms}`;
    setTitlePrefix(waiting.length ? `(${waiting.length}) ` : "");
    ring(ringingNow.length > 0);
  }

  // Installation tests in progress (bands in test mode): a count only; the tests are the technicians'.
  const installationTests = { bands: 0, alarms: 0 };
  async function countInstallationTests() {
    try {
      const summary = await Opaska.api("GET", "/api/installation-tests/summary");
      installationTests.bands = summary.bands_in_test_mode;
      installationTests.alarms = summary.open_test_alarms;
      update();
    } catch (error) { /* the bar keeps the last count; the live badge shows a lost connection */ }
  }

  function noticeNew(alarm) {
    if (seen === null || seen.has(alarm.id)) return;
    seen.add(alarm.id);
    if (!alarm.is_test && alarm.status === "raised" && !LIFE_KINDS.has(alarm.kind)) chime();
  }

  if (bar) {
    document.getElementById("sound").addEventListener("click", unlock);
    onLive({
      onSnapshot(list) {
        alarms.clear();
        for (const alarm of list) alarms.set(alarm.id, alarm);
        if (seen === null) seen = new Set(list.map((a) => a.id));
        else for (const alarm of list) noticeNew(alarm);
        pruneSilenced();
        update();
      },
      onEvent(message) {
        if (!message.alarm) return;
        alarms.set(message.alarm.id, message.alarm);
        noticeNew(message.alarm);
        if (message.alarm.is_test) countInstallationTests();
        update();
      },
    });
    setInterval(update, 1000);
    setInterval(countInstallationTests, 10_000);
    countInstallationTests();
    update();
  }

  // For tests and for other scripts: which alarms ring now, and whether the browser lets us play.
  return {
    ringing: () => ringing().map((a) => a.id),
    audioState: () => (sound.context ? sound.context.state : "none"),
    silence,
  };
})();
