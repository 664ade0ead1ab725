// The selection panel and the staff actions on the seats selected on the map: Block (with a
// note), Unblock, Release a hold, Cancel a booking (a dialog asks for a reason and a refund).

import { api, ApiError } from "./api.js";
import { $, element, keepingFocus } from "./dom.js";

// What the actions need from the page: its state (screeningId, board, releasedHere), the seat
// map, the status line (`say`) and what to read again after an action (`afterAction`).
let page = null;

export function initSelection(context) {
  page = context;
}

// When the control with the focus goes with the selection (Block, Unblock, Release, Clear
// selection, a hold released by its patron), the focus goes back to the seat map's seat.
export function renderSelection(seats) {
  keepingFocus($("selection"), () => fillSelection(seats), () => page.seatMap.current());
}

function fillSelection(seats) {
  const list = $("selection-list");
  list.replaceChildren(...seats.map((seat) => element("li", { text: `${seat.label} (${seat.status})` })));
  $("selection-empty").hidden = seats.length > 0;
  $("clear-selection").hidden = seats.length === 0;
  const actions = $("selection-actions");
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
    const all = page.state.board?.holds.find((hold) => hold.id === holdId)?.seats || labels;
    add(`Release the hold on ${all.join(", ")}`, `release-selected-${holdId}`, () => releaseHold(holdId, all));
  }
  const references = new Set(seats.filter((s) => s.status === "booked").map((s) => s.booking_reference));
  for (const reference of references) {
    if (reference) add(`Cancel booking ${reference}…`, `cancel-${reference}`, () => askCancel(reference), "danger");
  }
}

async function act(done, work) {
  try {
    await work();
    page.say(done);
  } catch (error) {
    page.say(error instanceof ApiError ? `Not done: ${error.message}` : `Not done: ${error}`);
  }
  page.afterAction();
}

export function releaseHold(holdId, labels) {
  return act(`Hold on ${labels.join(", ")} released.`, async () => {
    page.state.releasedHere.add(holdId); // said in the status line: not announced again from the feed
    await api(`/v1/holds/${holdId}`, { method: "DELETE" });
    page.seatMap.deselect(labels);
  });
}

function blockSeats(labels) {
  const note = $("block-note").value.trim();
  return act(`Blocked ${labels.join(", ")}.`, async () => {
    await api(`/v1/screenings/${page.state.screeningId}/blocks`, { method: "POST", body: { seats: labels, note } });
    page.seatMap.deselect(labels);
    $("block-note").value = "";
  });
}

function unblockSeats(labels) {
  return act(`Unblocked ${labels.join(", ")}.`, async () => {
    await api(`/v1/screenings/${page.state.screeningId}/blocks`, {
      method: "DELETE",
      query: labels.map((label) => ["seat", label]),
    });
    page.seatMap.deselect(labels);
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
    const labels = page.seatMap.selection().filter((s) => s.booking_reference === reference).map((s) => s.label);
    page.seatMap.deselect(labels);
  });
}
