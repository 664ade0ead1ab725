// "Paid after expiry": bookings whose payment arrived after their hold ended and whose seats
// were gone ("paid, not seated"), with their two actions: seat them (seats staff choose) or
// record the refund. Each action sends the state the page showed (expected_status,
// expected_refunded): a double click or a stale page acts once, the API refuses the rest.
// Self-contained: the section shows only while someone is waiting, and refreshes by itself.

import { api, ApiError, loadSession } from "./api.js";
import { $, element } from "./dom.js";

const EVERY_MS = 20000;

function money(amount, currency) {
  return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(amount / 100);
}

function problemText(error) {
  if (!(error instanceof ApiError)) return String(error?.message ?? error);
  return error.problem?.detail || error.problem?.title || error.message;
}

function field(id, label, input) {
  input.id = id;
  return element("div", { className: "field" }, element("label", { text: label, attrs: { for: id } }), input);
}

function render(row) {
  const key = row.reference;
  const seats = element("input", { attrs: { type: "text", required: "", autocomplete: "off" } });
  seats.value = row.seats_wanted.join(", ");
  const reseat = element(
    "form",
    { className: "desk-form" },
    field(`reseat-${key}`, `Seats (${row.tickets})`, seats),
    element("button", { text: "Seat them", attrs: { type: "submit" } }),
  );
  reseat.addEventListener("submit", (event) => {
    event.preventDefault();
    const chosen = seats.value.split(/[\s,]+/).filter(Boolean).map((label) => label.toUpperCase());
    act(`Booking ${key} is seated.`, () =>
      api(`/v1/bookings/${key}/reseat`, { method: "POST", body: { seats: chosen, expected_status: "unseated" } }),
    );
  });
  const amount = element("input", { attrs: { type: "number", min: "0.01", step: "0.01", required: "" } });
  amount.value = (row.refund_owed / 100).toFixed(2);
  const method = element(
    "select",
    {},
    ...["provider", "card", "cash", "voucher", "other"].map((m) => element("option", { text: m, attrs: { value: m } })),
  );
  const reason = element("input", { attrs: { type: "text", maxlength: "300", required: "" } });
  reason.value = "paid after the hold ended; seats gone";
  const refund = element(
    "form",
    { className: "desk-form" },
    field(`refund-amount-${key}`, `Refund (${row.currency})`, amount),
    field(`refund-method-${key}`, "How", method),
    field(`refund-reason-${key}`, "Why", reason),
    element("button", { text: "Record refund", attrs: { type: "submit" } }),
  );
  refund.addEventListener("submit", (event) => {
    event.preventDefault();
    const cents = Math.round(Number(amount.value) * 100);
    act(`Refund of ${money(cents, row.currency)} recorded for ${key}.`, () =>
      api(`/v1/bookings/${key}/refunds`, {
        method: "POST",
        body: { amount: cents, method: method.value, reason: reason.value, expected_refunded: row.refunded },
      }),
    );
  });
  return element(
    "li",
    { attrs: { "data-reference": key } },
    element("p", {
      text:
        `${key} · ${row.patron.name} · ${row.tickets} ticket(s), wanted ${row.seats_wanted.join(", ")} · ` +
        `paid ${money(row.paid, row.currency)}, refunded ${money(row.refunded, row.currency)}, ` +
        `owed ${money(row.refund_owed, row.currency)}`,
    }),
    reseat,
    refund,
  );
}

let busy = false;

async function act(done, work) {
  if (busy) return; // one action at a time: a double click acts once here too
  busy = true;
  try {
    await work();
    $("unseated-message").textContent = done;
  } catch (error) {
    $("unseated-message").textContent = `Not done: ${problemText(error)}`;
  } finally {
    busy = false;
    await refresh();
  }
}

export async function refresh() {
  const section = $("unseated");
  if (!section || !loadSession()) return;
  let rows;
  try {
    rows = await api("/v1/payments/unseated");
  } catch {
    return; // signed out, or the API away: the next round tries again
  }
  section.hidden = rows.length === 0 && !$("unseated-message").textContent;
  $("unseated-list").replaceChildren(...rows.map(render));
}

refresh();
setInterval(refresh, EVERY_MS);
// Signing in shows the dashboard: look then, not a round later.
const dashboard = $("dashboard");
if (dashboard) {
  new MutationObserver(() => !dashboard.hidden && refresh()).observe(dashboard, {
    attributes: true,
    attributeFilter: ["hidden"],
  });
}
