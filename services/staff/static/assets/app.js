// The staff dashboard: sign-in, the day's screenings with occupancy, a screening's live seat map
// with the holds' countdowns, the staff actions, and the activity feed. Every figure on screen
// comes from the read models; a feed event only says which ones to read again.

import { api, ApiError, clearSession, loadSession, saveSession, whenUnauthorized } from "./api.js";
import { logEvent } from "./activity.js";
import { loadPanels, refreshesPanels } from "./desk.js";
import { $, element } from "./dom.js";
import { Feed } from "./feed.js";
import { countsText, doorText, localDay, localTime, renderProgramme } from "./programme.js";
import { renderNoShows } from "./noshows.js";
import { SeatMap } from "./seatmap.js";

const state = {
  session: null,
  day: null,
  programme: null,
  screeningId: null,
  board: null,
  fetchedAt: 0,
  expiredSeen: new Set(),
  feed: null,
};

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
  loadProgramme(null).catch(console.error);
  loadPanels(null).catch(console.error);
  $("programme-title").setAttribute("tabindex", "-1");
  $("programme-title").focus();
}

function signOut(message) {
  clearSession();
  state.feed?.stop();
  state.feed = null;
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
}

// -- the day's screenings ----------------------------------------------------------------------

async function loadProgramme(day) {
  const query = day ? [["date", day]] : [];
  const programme = await api("/v1/staff/screenings", { query });
  state.programme = programme;
  state.day = programme.day;
  renderProgramme(programme, state.screeningId, openScreening);
}

// -- a screening's board -----------------------------------------------------------------------

const seatMap = new SeatMap($("seatmap"), { onSelectionChange: renderSelection });

async function openScreening(id) {
  state.screeningId = id;
  state.expiredSeen.clear();
  for (const button of $("screenings").querySelectorAll("button.screening")) {
    if (button.dataset.screening === id) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
  say("");
  await loadBoard();
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
  renderBoard(board);
}

function renderBoard(board) {
  const line = board.screening;
  $("board-title").textContent = `${line.film_title} · ${localDay(line)}, ${localTime(line)} · ${line.auditorium_name}`;
  $("board-summary").textContent = `${line.status.replace("_", " ")} · ${countsText(line.counts)} · ${doorText(line)}`;
  renderNoShows(line);
  seatMap.show(line.id, board.seats);
  renderHolds(board.holds);
  tick();
}

function timeLeft(hold) {
  const elapsed = (performance.now() - state.fetchedAt) / 1000;
  return Math.max(0, hold.seconds_left - elapsed);
}

function clock(seconds) {
  const whole = Math.ceil(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function age(hold) {
  const seconds = hold.age_seconds + (performance.now() - state.fetchedAt) / 1000;
  return seconds < 60 ? `${Math.floor(seconds)} s` : `${Math.floor(seconds / 60)} min`;
}

function renderHolds(holds) {
  const body = $("holds");
  const focusKey = document.activeElement?.dataset?.focusKey;
  body.replaceChildren();
  $("holds-empty").hidden = holds.length > 0;
  $("holds-table").hidden = holds.length === 0;
  for (const hold of holds) {
    const seats = hold.seats.join(", ");
    const release = element("button", {
      className: "quiet",
      text: "Release",
      attrs: { type: "button", "aria-label": `Release the hold on ${seats}`, "data-focus-key": `release-${hold.id}` },
    });
    release.addEventListener("click", () => releaseHold(hold.id, hold.seats));
    const row = element(
      "tr",
      { attrs: { "data-hold": hold.id } },
      element("td", { text: seats }),
      element("td", { className: "age" }),
      element("td", { className: "left" }),
      element("td", {}, release),
    );
    for (const kind of ["mouseenter", "focusin"]) row.addEventListener(kind, () => seatMap.highlight(hold.seats));
    for (const kind of ["mouseleave", "focusout"]) row.addEventListener(kind, () => seatMap.highlight([]));
    body.append(row);
  }
  if (focusKey) body.querySelector(`[data-focus-key="${focusKey}"]`)?.focus();
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
      refreshBoard();
      refreshProgramme();
    }
  }
}

// -- the selection and the actions -------------------------------------------------------------

function renderSelection(seats) {
  const list = $("selection-list");
  list.replaceChildren(...seats.map((seat) => element("li", { text: `${seat.label} (${seat.status})` })));
  $("selection-empty").hidden = seats.length > 0;
  $("clear-selection").hidden = seats.length === 0;
  const actions = $("selection-actions");
  const focusKey = document.activeElement?.dataset?.focusKey;
  actions.replaceChildren();
  const of = (status) => seats.filter((seat) => seat.status === status).map((seat) => seat.label);
  const add = (text, key, handler, className = "") => {
    const button = element("button", { className, text, attrs: { type: "button", "data-focus-key": key } });
    button.addEventListener("click", handler);
    actions.append(button);
  };
  const available = of("available");
  const blocked = of("blocked");
  $("block-note-field").hidden = available.length === 0;
  if (available.length) add(`Block ${available.join(", ")}`, "block", () => blockSeats(available), "primary");
  if (blocked.length) add(`Unblock ${blocked.join(", ")}`, "unblock", () => unblockSeats(blocked));
  const holds = new Map();
  for (const seat of seats.filter((s) => s.status === "held" && s.hold_id)) {
    holds.set(seat.hold_id, [...(holds.get(seat.hold_id) || []), seat.label]);
  }
  for (const [holdId, labels] of holds) {
    const all = state.board?.holds.find((hold) => hold.id === holdId)?.seats || labels;
    add(`Release the hold on ${all.join(", ")}`, `release-selected-${holdId}`, () => releaseHold(holdId, all));
  }
  const references = new Set(seats.filter((s) => s.status === "booked").map((s) => s.booking_reference));
  for (const reference of references) {
    if (reference) add(`Cancel booking ${reference}…`, `cancel-${reference}`, () => askCancel(reference), "danger");
  }
  if (focusKey) actions.querySelector(`[data-focus-key="${focusKey}"]`)?.focus();
}

async function act(done, work) {
  try {
    await work();
    say(done);
  } catch (error) {
    say(error instanceof ApiError ? `Not done: ${error.message}` : `Not done: ${error}`);
  }
  refreshBoard();
  refreshProgramme();
}

function releaseHold(holdId, labels) {
  return act(`Hold on ${labels.join(", ")} released.`, async () => {
    await api(`/v1/holds/${holdId}`, { method: "DELETE" });
    seatMap.deselect(labels);
  });
}

function blockSeats(labels) {
  const note = $("block-note").value.trim();
  return act(`Blocked ${labels.join(", ")}.`, async () => {
    await api(`/v1/screenings/${state.screeningId}/blocks`, { method: "POST", body: { seats: labels, note } });
    seatMap.deselect(labels);
    $("block-note").value = "";
  });
}

function unblockSeats(labels) {
  return act(`Unblocked ${labels.join(", ")}.`, async () => {
    await api(`/v1/screenings/${state.screeningId}/blocks`, {
      method: "DELETE",
      query: labels.map((label) => ["seat", label]),
    });
    seatMap.deselect(labels);
  });
}

function askCancel(reference) {
  const dialog = $("cancel-dialog");
  const opener = document.activeElement;
  $("cancel-text").textContent = `Cancel booking ${reference}? Its seats go back on sale at once.`;
  $("cancel-reason").value = "";
  $("cancel-refund").checked = true;
  dialog.dataset.reference = reference;
  dialog.returnValue = "";
  dialog.showModal();
  $("cancel-reason").focus();
  dialog.onclose = () => {
    if (dialog.returnValue === "confirm") cancelBooking(reference);
    opener?.focus?.();
  };
}

function cancelBooking(reference) {
  const body = { reason: $("cancel-reason").value.trim(), refund: $("cancel-refund").checked };
  return act(`Booking ${reference} cancelled.`, async () => {
    await api(`/v1/bookings/${reference}/cancel`, { method: "POST", body });
    const labels = seatMap.selection().filter((s) => s.booking_reference === reference).map((s) => s.label);
    seatMap.deselect(labels);
  });
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
  logEvent(type, event, state.programme);
  const screening = event.screening_id || (event.aggregate_type === "screening" ? event.aggregate_id : null);
  if (screening && screening === state.screeningId) refreshBoard();
  if (screening) refreshProgramme();
  if (refreshesPanels(type)) refreshPanels();
}

function refreshAll() {
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
  $("day-previous").addEventListener("click", () => state.programme?.previous_date && loadProgramme(state.programme.previous_date));
  $("day-next").addEventListener("click", () => state.programme?.next_date && loadProgramme(state.programme.next_date));
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
