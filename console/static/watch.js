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

  function silenced() {
    try { return new Set(JSON.parse(localStorage.getItem(SILENCED_KEY) || "[]")); } catch (error) { return new Set(); }
  }
  function saveSilenced(ids) {
    localStorage.setItem(SILENCED_KEY, JSON.stringify([...ids]));
  }
  function silence(id) {
    const ids = silenced();
    ids.add(id);
    saveSilenced(ids);
    update();
  }
  // Forget silenced alarms that are no longer waiting, so the list never grows over a shift.
  function pruneSilenced() {
    const waiting = new Set(unclaimed().map((a) => a.id));
    const ids = silenced();
    const kept = [...ids].filter((id) => waiting.has(id));
    if (kept.length !== ids.size) saveSilenced(kept);
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

  function ringing() {
    const quiet = silenced();
    return unclaimed().filter((a) => LIFE_KINDS.has(a.kind) && !quiet.has(a.id));
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

  function chip(alarm) {
    const life = LIFE_KINDS.has(alarm.kind);
    const node = el("span", { className: `bar-alarm ${life ? "life" : "technical"}`, dataset: { alarmId: alarm.id } },
      el("a", { href: `/alarms/${alarm.id}` }, `${KINDS[alarm.kind] || alarm.kind}: ${residentName(alarm)}`),
      el("span", { className: "age" }),
      life ? el("button", { type: "button", className: "silence", title: "Wycisz ten alarm (nadal czeka w kolejce)", onclick: () => silence(alarm.id) }, "Wycisz") : null,
      life ? el("span", { className: "muted small silenced-note" }, "wyciszony") : null);
    return node;
  }

  function showChips(waiting, quiet, now) {
    const list = document.getElementById("alarm-bar-list");
    // At most four: the bar stays one line on a 1024 px screen; the rest are counted.
    const shown = waiting.slice(0, 4);
    const ids = new Set(shown.map((a) => a.id));
    for (const [id, node] of chips) if (!ids.has(id)) { node.remove(); chips.delete(id); }
    shown.forEach((alarm, index) => {
      if (!chips.has(alarm.id)) chips.set(alarm.id, chip(alarm));
      const node = chips.get(alarm.id);
      const waited = secondsSince(alarm.raised_at, now);
      const age = node.querySelector(".age");
      age.textContent = duration(waited);
      age.className = `age ${ageClass(waited)}`;
      const isQuiet = quiet.has(alarm.id);
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
    const waiting = unclaimed();
    const quiet = silenced();
    const loud = ringing();
    const tests = installationTests.bands;
    bar.classList.toggle("alerting", loud.length > 0);
    bar.classList.toggle("waiting", waiting.length > 0);
    const oldest = waiting[0];
    document.getElementById("alarm-bar-count").textContent = waiting.length
      ? `Nieprzyjęte alarmy: ${waiting.length} · najdłużej czeka ${duration(secondsSince(oldest.raised_at, now))}`
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
    ring(loud.length > 0);
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
