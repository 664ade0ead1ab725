// The money panel: today's takings at a venue (payments less refunds, by method, with a small
// chart by hour whose figures are also in a table), the sales by ticket type, and the refunds
// due. Read-only: its figures come from /v1/staff/takings/day and /v1/staff/refunds-due
// (docs/money.md, "Takings"); a money event on the feed asks for them again.

import { api } from "./api.js";
import { $, element } from "./dom.js";

const METHOD_NAMES = { cash: "Cash", card: "Card", provider: "Online", voucher: "Voucher", other: "Other" };
const STATUS_NAMES = { cancelled: "cancelled", unseated: "paid, not seated" };

let venues = [];
let timer = null;
let asked = 0;

function format(minor, currency) {
  const style = new Intl.NumberFormat("en", { style: "currency", currency });
  const digits = style.resolvedOptions().maximumFractionDigits;
  return style.format(minor / 10 ** digits);
}

function cell(text, header = false) {
  return element(header ? "th" : "td", { text, attrs: header ? { scope: "row" } : {} });
}

function row(first, ...rest) {
  return element("tr", {}, cell(first, true), ...rest.map((text) => cell(text)));
}

// Every hour of the venue's day (23 or 25 on the days the clocks change), with its money.
function hoursOf(report) {
  const money = new Map(report.by_hour.map((hour) => [new Date(hour.starts_at).getTime(), hour]));
  const clock = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", timeZone: report.time_zone });
  const hours = [];
  const end = new Date(report.ends_at).getTime();
  for (let at = new Date(report.starts_at).getTime(); at < end; at += 3600_000) {
    hours.push({ label: clock.format(at), hour: money.get(at) });
  }
  return hours;
}

function renderChart(report) {
  const hours = hoursOf(report);
  const most = Math.max(1, ...hours.map(({ hour }) => Math.abs(hour?.net ?? 0)));
  $("takings-chart").replaceChildren(
    ...hours.map(({ label, hour }, n) => {
      const net = hour?.net ?? 0;
      const bar = element("span", { className: net < 0 ? "column refund" : "column" });
      bar.style.height = `${Math.round((Math.abs(net) / most) * 100)}%`;
      const tick = element("span", { className: "tick", text: n % 3 === 0 ? label.slice(0, 2) : "" });
      return element("span", { className: "hour" }, bar, tick);
    }),
  );
  const rows = report.by_hour.map((hour) =>
    row(hour.local_start, format(hour.paid, hour.currency), format(hour.refunded, hour.currency), format(hour.net, hour.currency)),
  );
  $("takings-hours").replaceChildren(...rows);
  $("takings-hours-table").hidden = rows.length === 0;
}

function renderDay(report) {
  const totals = report.cash_totals;
  $("takings-summary").textContent = totals.length
    ? totals
        .map((t) => `Taken ${format(t.net, t.currency)} (paid ${format(t.paid, t.currency)}, refunded ${format(t.refunded, t.currency)})`)
        .join("; ")
    : "No money taken yet today.";
  $("takings-methods").replaceChildren(
    ...report.cash.map((line) =>
      element("li", { text: `${METHOD_NAMES[line.method] ?? line.method}: ${format(line.net, line.currency)}` }),
    ),
  );
  renderChart(report);
  const types = report.ticket_types.map((line) =>
    row(line.ticket_type, String(line.admissions), format(line.gross, line.currency), format(line.tax, line.currency)),
  );
  $("takings-types").replaceChildren(...types);
  $("takings-types-table").hidden = types.length === 0;
  $("takings-types-empty").hidden = types.length > 0;
}

function renderRefundsDue(due) {
  $("refunds-due-empty").hidden = due.length > 0;
  $("refunds-due-table").hidden = due.length === 0;
  $("refunds-due").replaceChildren(
    ...due.map((booking) => {
      const when = new Date(booking.starts_at).toLocaleString("en-GB", {
        dateStyle: "medium",
        timeStyle: "short",
        timeZone: $("takings-venue").selectedOptions[0]?.dataset.zone,
      });
      const decided = booking.refund_due ? "" : " (staff said no refund)";
      return row(
        booking.reference,
        booking.patron_name,
        `${booking.film_title}, ${when}`,
        `${STATUS_NAMES[booking.status] ?? booking.status}${decided}`,
        `${format(booking.due, booking.currency)} of ${format(booking.paid, booking.currency)}`,
      );
    }),
  );
}

export async function loadTakings() {
  const venue = $("takings-venue").value;
  if (!venue) return;
  const mine = ++asked;
  const [report, due] = await Promise.all([
    api("/v1/staff/takings/day", { query: [["venue", venue]] }),
    api("/v1/staff/refunds-due", { query: [["venue", venue]] }),
  ]);
  if (mine !== asked) return; // a newer request (another venue) answers instead
  $("takings-title").textContent = `Today's takings · ${report.venue_name}`;
  renderDay(report);
  renderRefundsDue(due);
}

// Events after which the figures may have changed.
export function changesTakings(type) {
  return ["booking.", "payment.", "refund."].some((prefix) => type.startsWith(prefix));
}

export async function initTakings() {
  venues = await api("/v1/venues");
  const select = $("takings-venue");
  select.replaceChildren(
    ...venues.map((venue) => element("option", { text: venue.name, attrs: { value: venue.id, "data-zone": venue.time_zone } })),
  );
  $("takings-venue-field").hidden = venues.length < 2;
  select.onchange = () => loadTakings().catch(console.error);
  // The day turns over at the venue's midnight: read it again every few minutes.
  clearInterval(timer);
  timer = setInterval(() => loadTakings().catch(() => {}), 300_000);
  await loadTakings();
}

export function stopTakings() {
  clearInterval(timer);
  timer = null;
}
