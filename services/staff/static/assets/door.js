// The door page: pick a screening and a door, then scan (camera where the browser offers the
// BarcodeDetector, typed code otherwise). Online, the API decides; when a request fails or is
// slow the page goes offline by itself, decides from the screening's snapshot kept in the
// browser's storage, queues each scan with its nonce and uploads the queue when it can.

import { api, loadSession, saveSession } from "./api.js";
import { $ } from "./dom.js";
import { decideOffline } from "./doorlocal.js";

const SLOW_MS = 2500; // an answer slower than this: go offline
const RETRY_MS = 3000; // while offline, try to upload this often
const store = window.localStorage;
const state = { screening: null, door: "", offline: false, snapshot: null, keys: [], timer: null };

function scannerId() {
  let id = store.getItem("usher.door.scanner");
  if (!id) {
    id = `web-${crypto.randomUUID()}`;
    store.setItem("usher.door.scanner", id);
  }
  return id;
}

function key(name) {
  return `usher.door.${state.screening}.${name}`;
}

function queue() {
  return JSON.parse(store.getItem(key("queue")) || "[]");
}

function show(section) {
  for (const id of ["sign-in", "setup", "scanner"]) $(id).hidden = id !== section;
}

// -- sign-in and setup -------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  try {
    saveSession(await api("/v1/staff/sessions", { method: "POST", body: { email: $("email").value, password: $("password").value } }));
    await setup();
  } catch (error) {
    $("sign-in-error").textContent = error.message;
  }
}

async function setup() {
  show("setup");
  const programme = await api("/v1/staff/screenings");
  $("screening").replaceChildren(
    ...programme.screenings.map((line) => new Option(`${line.local_start.slice(11, 16)} ${line.film_title} · ${line.auditorium_name}`, line.id)),
  );
  const last = store.getItem("usher.door.last");
  if (last) $("screening").value = last;
  $("screening").focus();
}

async function start(event) {
  event.preventDefault();
  state.screening = $("screening").value;
  state.door = $("door").value.trim() || "Door";
  store.setItem("usher.door.last", state.screening);
  $("where").textContent = `${$("screening").selectedOptions[0].text} · ${state.door}`;
  state.snapshot = JSON.parse(store.getItem(key("snapshot")) || "null");
  state.keys = JSON.parse(store.getItem("usher.door.keys") || "[]");
  show("scanner");
  $("code").focus();
  await refreshSnapshot();
  if (queue().length) goOffline();
}

async function refreshSnapshot() {
  try {
    const keys = await api("/v1/door/keys");
    state.keys = keys.keys;
    store.setItem("usher.door.keys", JSON.stringify(state.keys));
    state.snapshot = await api(`/v1/door/screenings/${state.screening}/snapshot`);
    store.setItem(key("snapshot"), JSON.stringify(state.snapshot));
  } catch {
    // offline already: the snapshot kept in storage serves
  }
}

// -- scanning ----------------------------------------------------------------------------------

async function scan(text) {
  const body = { screening_id: state.screening, code: text, scanner_id: scannerId(), nonce: crypto.randomUUID().replaceAll("-", ""), door: state.door };
  const scannedAt = new Date();
  if (!state.offline) {
    try {
      const answer = await withTimeout(api("/v1/door/scans", { method: "POST", body }), SLOW_MS);
      showAnswer(answer);
      return;
    } catch (error) {
      if (error.status) {
        showAnswer({ result: "refused", message: error.message, tickets: [] });
        return;
      }
      goOffline(); // no answer, or a slow one: this scan finishes offline, with its nonce
    }
  }
  await scanOffline(body, scannedAt);
}

function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error("slow")), ms))]);
}

async function scanOffline(body, scannedAt) {
  if (!state.snapshot) {
    showAnswer({ result: "refused", message: "Offline, and no snapshot of this screening yet: check the ticket by hand.", tickets: [] });
    return;
  }
  const answer = await decideOffline(state.snapshot, state.keys, body.code, scannedAt, state.door);
  store.setItem(key("snapshot"), JSON.stringify(state.snapshot));
  store.setItem(key("queue"), JSON.stringify([...queue(), { code: body.code, nonce: body.nonce, scanned_at: scannedAt.toISOString() }]));
  showAnswer(answer);
  banner();
}

function goOffline() {
  state.offline = true;
  $("mode").dataset.mode = "offline";
  $("mode").textContent = "Offline";
  banner();
  clearInterval(state.timer);
  state.timer = setInterval(upload, RETRY_MS);
}

function banner() {
  const waiting = queue().length;
  $("offline-banner").hidden = !state.offline;
  $("offline-banner").textContent = `Offline: deciding from this device. ${waiting} ${waiting === 1 ? "scan waits" : "scans wait"} to upload.`;
}

async function upload() {
  const scans = queue();
  try {
    if (scans.length) {
      await api(`/v1/door/screenings/${state.screening}/uploads`, { method: "POST", body: { scanner_id: scannerId(), door: state.door, scans } });
      const left = queue().filter((s) => !scans.some((u) => u.nonce === s.nonce));
      store.setItem(key("queue"), JSON.stringify(left));
      if (left.length) return;
    } else {
      await api("/healthz");
    }
  } catch {
    return; // still offline: try again later
  }
  clearInterval(state.timer);
  state.offline = false;
  $("mode").dataset.mode = "online";
  $("mode").textContent = "Online";
  $("offline-banner").hidden = true;
  await refreshSnapshot();
}

// -- the answer --------------------------------------------------------------------------------

function showAnswer(answer) {
  const kind = answer.result === "admitted" ? "admit" : answer.reason === "already_admitted" ? "already" : "refuse";
  const titles = { admit: "Admit", already: "Already admitted", refuse: "Refused" };
  const count = answer.tickets.filter((t) => t.status === "admitted").length;
  $("answer").dataset.kind = kind;
  $("answer-title").textContent = kind === "admit" && count ? `${titles.admit} ${count}` : titles[kind];
  const seats = answer.tickets.map((t) => `${t.seat} (${t.ticket_type})`).join(", ");
  const earlier = answer.tickets.find((t) => t.status === "already_admitted" && t.admitted_at);
  const when = kind === "already" && earlier ? ` ${new Date(earlier.admitted_at).toLocaleTimeString()}` : "";
  $("answer-detail").textContent = `${answer.message}${when}${seats ? ` Seats: ${seats}.` : ""}`;
  $("answer-needs").replaceChildren(...(answer.needs || []).map((need) => Object.assign(document.createElement("li"), { textContent: need })));
  beep(kind);
  $("code").value = "";
  $("code").focus();
}

// One sound per answer, told apart without looking: admit one short high tone, already
// admitted two middle ones, refused one long low one (docs/door.md). One AudioContext for the
// page: the first is made after the click that started scanning, which lets it play.
const SOUNDS = {
  admit: [{ hz: 880, at: 0, for: 0.15 }],
  already: [{ hz: 440, at: 0, for: 0.12 }, { hz: 440, at: 0.2, for: 0.12 }],
  refuse: [{ hz: 196, at: 0, for: 0.5 }],
};
let audio = null;

function beep(kind) {
  try {
    audio = audio || new AudioContext();
    if (audio.state === "suspended") audio.resume();
    for (const tone of SOUNDS[kind]) {
      const osc = audio.createOscillator();
      osc.frequency.value = tone.hz;
      osc.connect(audio.destination);
      osc.start(audio.currentTime + tone.at);
      osc.stop(audio.currentTime + tone.at + tone.for);
    }
  } catch {
    // no sound: the screen says it all
  }
}

// -- the camera --------------------------------------------------------------------------------

async function startCamera() {
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  const video = $("camera");
  video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  video.hidden = false;
  await video.play();
  let last = "";
  const look = async () => {
    const [found] = await detector.detect(video).catch(() => []);
    if (found && found.rawValue !== last) {
      last = found.rawValue;
      await scan(found.rawValue);
      setTimeout(() => (last = ""), 3000);
    }
    requestAnimationFrame(look);
  };
  look();
}

function init() {
  $("sign-in-form").addEventListener("submit", signIn);
  $("setup-form").addEventListener("submit", start);
  $("scan-form").addEventListener("submit", (event) => {
    event.preventDefault();
    if ($("code").value.trim()) scan($("code").value.trim());
  });
  $("change").addEventListener("click", setup);
  if ("BarcodeDetector" in window && navigator.mediaDevices) {
    $("camera-start").hidden = false;
    $("camera-start").addEventListener("click", startCamera);
  }
  window.addEventListener("online", () => state.offline && upload());
  if (loadSession()) setup();
  else show("sign-in");
}

init();
