// The staff dashboard: sign-in, the day's screenings with occupancy, a screening's live seat map
// with the holds' countdowns, the staff actions, and the activity feed. Every figure on screen
// comes from the read models; a feed event only says which ones to read again.

import { api, ApiError, clearSession, loadSession, saveSession, whenUnauthorized } from "./api.js";
import { logEvent } from "./activity.js";
import { Announcer } from "./announce.js";
import { loadPanels, refreshesPanels } from "./desk.js";
import { $, element, usable } from "./dom.js";
import { Feed } from "./feed.js";
import { clock, renderHolds } from "./holds.js";
import { renderNoShows } from "./noshows.js";
import { countsText, doorText, localDay, localTime, renderProgramme } from "./programme.js";
import { SeatMap } from "./seatmap.js";
import { initSelection, releaseHold, renderSelection } from "./selection.js";
import { changesTakings, initTakings, loadTakings, stopTakings } from "./takings.js";

const state = {
  session: null,
  day: null,
  programme: null,
  screeningId: null,
  board: null,
  fetchedAt: 0,
  expiredSeen: new Set(),
  soonSeen: new Set(),
  releasedHere: new Set(),
  feed: null,
  feedWasLive: false,
  zones: new Map(), // venue id -> time zone
  venueOf: new Map(), // screening id -> venue id, from every programme and board read
};

const announcer = new Announcer($("announcer"));

function coalesce(task, delay) {
  let timer = null;
  let running = false;
  let again = false;
  const run = async () => {
    timer = null;
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      await task();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) console.error(error);
    } finally {
      running = false;
      if (again) {
        again = false;
        schedule();
      }
    }
  };
  const schedule = () => {
    if (!timer) timer = setTimeout(run, delay);
  };
  return schedule;
}

const refreshBoard = coalesce(loadBoard, 30);
const refreshProgramme = coalesce(() => loadProgramme(state.day), 150);
const refreshPanels = coalesce(() => loadPanels(state.screeningId), 250);
const refreshTakings = coalesce(loadTakings, 500);

function say(text) {
  $("action-message").textContent = text;
}

// -- signing in and out ------------------------------------------------------------------------

async function signIn(event) {
  event.preventDefault();
  const error = $("sign-in-error");
  error.textContent = "";
  const email = $("email").value.trim();
  const password = $("password").value;
  if (!email || !password) {
    error.textContent = "Enter your e-mail and password.";
    (email ? $("password") : $("email")).focus();
    return;
  }
  try {
    const session = await api("/v1/staff/sessions", { method: "POST", body: { email, password } });
    saveSession(session);
    $("password").value = "";
    enterDashboard(session);
  } catch (failure) {
    error.textContent =
      failure instanceof ApiError && failure.status === 401
        ? "Unknown e-mail or wrong password."
        : `Could not sign in: ${failure.message}`;
    $("password").focus();
  }
}

function enterDashboard(session) {
  state.session = session;
  $("sign-in").hidden = true;
  $("dashboard").hidden = false;
  $("who").hidden = false;
  $("who-name").textContent = `${session.staff.name} (${session.staff.role})`;
  $("feed-status").hidden = false;
  state.feed = new Feed("/v1/staff/events", {
    onEvent: onFeedEvent,
    onStatus: showFeedStatus,
    onUnauthorized: () => signOut("Your session has ended: sign in again."),
  });
  state.feed.start();
  loadZones().catch(console.error);
  loadProgramme(null).catch(console.error);
  loadPanels(null).catch(console.error);
  initTakings().catch(console.error);
  $("programme-title").setAttribute("tabindex", "-1");
  $("programme-title").focus();
}

function signOut(message) {
  clearSession();
  announcer.clear({ forget: true });
  state.feedWasLive = false;
  state.feed?.stop();
  state.feed = null;
  stopTakings();
  state.session = null;
  state.screeningId = null;
  state.board = null;
  $("dashboard").hidden = true;
  $("who").hidden = true;
  $("feed-status").hidden = true;
  $("board").hidden = true;
  $("sign-in").hidden = false;
  $("sign-in-error").textContent = message || "";
  $("email").focus();
}

function showFeedStatus(status) {
  const words = { live: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", off: "Offline" };
  $("feed-status").dataset.state = status === "live" ? "live" : "off";
  $("feed-status-text").textContent = `Updates: ${words[status] || status}`;
  // Said when it changes once the feed has been live (not the first connection).
  const said = { live: "Live updates on", reconnecting: "Live updates lost, reconnecting", off: "Live updates off" };
  if (!said[status] || !state.session) return;
  announcer.connection(said[status], { quietly: !state.feedWasLive });
  if (status === "live") state.feedWasLive = true;
}

// The venues' time zones: the activity log gives each event's time in its venue's zone.
async function loadZones() {
  const venues = await api("/v1/venues");
  for (const venue of venues) state.zones.set(venue.id, venue.time_zone);
}

function zoneOf(screeningId) {
  const zone = state.zones.get(state.venueOf.get(screeningId));
  if (zone) return zone;
  const zones = new Set(state.zones.values());
  return zones.size === 1 ? [...zones][0] : undefined;
}

// -- the day's screenings ----------------------------------------------------------------------

// The newest request wins: a refresh of the day on show (the feed asks for one after each
// event) that answers after a request for another day must not put the old day back.
let programmeAsked = 0;

async function loadProgramme(day) {
  const asked = ++programmeAsked;
  if (day) state.day = day; // what is asked for from now on, refreshes included
  const query = day ? [["date", day]] : [];
  const programme = await api("/v1/staff/screenings", { query });
  if (asked !== programmeAsked) return;
  state.programme = programme;
  state.day = programme.day;
  for (const line of programme.screenings) state.venueOf.set(line.id, line.venue_id);
  renderProgramme(programme, state.screeningId, openScreening);
}

// -- a screening's board -----------------------------------------------------------------------

const seatMap = new SeatMap($("seatmap"), { onSelectionChange: renderSelection });
initSelection({
  state,
  seatMap,
  say,
  afterAction: () => {
    refreshBoard();
    refreshProgramme();
  },
});

async function openScreening(id) {
  state.screeningId = id;
  state.expiredSeen.clear();
  state.soonSeen.clear();
  announcer.clear();
  for (const button of $("screenings").querySelectorAll("button.screening")) {
    if (button.dataset.screening === id) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  say("");
  state.opening = true;
  try {
    await loadBoard();
  } finally {
    state.opening = false;
  }
  $("board").hidden = false;
  $("board-title").focus();
  refreshPanels();
}

async function loadBoard() {
  const id = state.screeningId;
  if (!id) return;
  const board = await api(`/v1/staff/screenings/${id}`);
  if (id !== state.screeningId) return;
  state.board = board;
  state.fetchedAt = performance.now();
  state.venueOf.set(board.screening.id, board.screening.venue_id);
  renderBoard(board);
}

function renderBoard(board) {
  const line = board.screening;
  $("board-title").textContent = `${line.film_title} · ${localDay(line)}, ${localTime(line)} · ${line.auditorium_name}`;
  $("board-summary").textContent = `${line.status.replace("_", " ")} · ${countsText(line.counts)} · ${doorText(line)}`;
  renderNoShows(line);
  seatMap.show(line.id, board.seats);
  renderHolds(board.holds, { onRelease: releaseHold, highlight: (labels) => seatMap.highlight(labels) });
  tick();
}

function timeLeft(hold) {
  const elapsed = (performance.now() - state.fetchedAt) / 1000;
  return Math.max(0, hold.seconds_left - elapsed);
}

function age(hold) {
  const seconds = hold.age_seconds + (performance.now() - state.fetchedAt) / 1000;
  return seconds < 60 ? `${Math.floor(seconds)} s` : `${Math.floor(seconds / 60)} min`;
}

// A hold's seats in words for an announcement: "J1, J2 (wheelchair)".
function seatsSaid(labels) {
  const wheelchair = labels.some((label) => seatMap.seats.get(label)?.kind === "wheelchair");
  return `${labels.join(", ")}${wheelchair ? " (wheelchair)" : ""}`;
}

// Once a second: the countdowns, and a fresh read when a hold runs out (its seats are free).
function tick() {
  const board = state.board;
  if (!board || $("board").hidden) return;
  for (const hold of board.holds) {
    const row = $("holds").querySelector(`tr[data-hold="${hold.id}"]`);
    if (!row) continue;
    const left = timeLeft(hold);
    const soon = left <= board.expiring_soon_seconds;
    // A hold that was already short of time when the screening was opened is not news.
    if (soon && !state.soonSeen.has(hold.id)) {
      if (left > 0 && !state.opening) announcer.hold("expiring", seatsSaid(hold.seats));
      state.soonSeen.add(hold.id);
    }
    row.classList.toggle("expiring", soon);
    const cell = row.querySelector(".left");
    cell.textContent = left > 0 ? `${clock(left)} left` : "expired";
    if (soon && left > 0) cell.append(element("span", { className: "soon", text: "Expiring soon" }));
    row.querySelector(".age").textContent = age(hold);
    for (const label of hold.seats) {
      const button = seatMap.buttons.get(label);
      if (button && button.dataset.status === "held") {
        button.title = `${label}, held, ${left > 0 ? `${clock(left)} left` : "expired"}`;
      }
    }
    if (left <= 0 && !state.expiredSeen.has(hold.id)) {
      state.expiredSeen.add(hold.id);
      announcer.hold("expired", seatsSaid(hold.seats));
      refreshBoard();
      refreshProgramme();
    }
  }
}

// -- the feed ----------------------------------------------------------------------------------

function onFeedEvent(type, event) {
  if (type === "ready") {
    if (!event.resumed) refreshAll();
    return;
  }
  if (type === "resync") {
    refreshAll();
    return;
  }
  const screening = event.screening_id || (event.aggregate_type === "screening" ? event.aggregate_id : null);
  const line = state.programme?.screenings.find((s) => s.id === screening);
  logEvent(type, event, line, zoneOf(screening));
  if (screening && screening === state.screeningId) announceHold(type, event);
  if (screening && screening === state.screeningId) refreshBoard();
  if (screening) refreshProgramme();
  if (refreshesPanels(type)) refreshPanels();
  if (changesTakings(type)) refreshTakings();
}

const HOLD_NEWS = {
  "hold.seats_held": "made",
  "hold.changed": "changed",
  "hold.released": "released",
  "hold.expired": "expired",
};

function announceHold(type, event) {
  const what = HOLD_NEWS[type];
  if (!what || !event.hold_id) return;
  if (what === "released" && state.releasedHere.delete(event.hold_id)) return;
  if (what === "expired" && state.expiredSeen.has(event.hold_id)) return; // the countdown said it
  if (what === "expired") state.expiredSeen.add(event.hold_id);
  announcer.hold(what, seatsSaid(event.seat_labels || []));
}

function refreshAll() {
  refreshTakings();
  refreshProgramme();
  refreshBoard();
  refreshPanels();
}

// -- start -------------------------------------------------------------------------------------

function start() {
  whenUnauthorized(() => signOut("Your session has ended: sign in again."));
  $("sign-in-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut("Signed out."));
  $("day").addEventListener("change", () => $("day").value && loadProgramme($("day").value));
  for (const [id, key] of [["day-previous", "previous_date"], ["day-next", "next_date"]]) {
    $(id).addEventListener("click", () => usable($(id)) && state.programme?.[key] && loadProgramme(state.programme[key]));
  }
  $("clear-selection").addEventListener("click", () => seatMap.deselect(seatMap.selection().map((s) => s.label)));
  $("cancel-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("cancel-dialog").close(event.submitter?.value || "keep");
  });
  setInterval(tick, 1000);
  const session = loadSession();
  if (session) enterDashboard(session);
  else $("email").focus();
}

start();
