// The activity log: the last 50 events of the feed, in words.

import { $, element } from "./dom.js";
import { localTime } from "./programme.js";

const WORDS = {
  "hold.seats_held": (e) => `Hold made on ${e.seat_labels.join(", ")}`,
  "hold.changed": (e) => `Hold changed: now ${e.seat_labels.join(", ")}`,
  "hold.extended": () => "Hold extended",
  "hold.released": (e) => `Hold on ${e.seat_labels.join(", ")} released (by ${e.by})`,
  "hold.expired": (e) => `Hold on ${e.seat_labels.join(", ")} expired`,
  "booking.confirmed": (e) => `Booking ${e.reference} on ${e.seat_labels.join(", ")}`,
  "booking.cancelled": (e) => `Booking ${e.reference} cancelled (by ${e.by})`,
  "seats.blocked": (e) => `Blocked ${e.seat_labels.join(", ")}`,
  "seats.unblocked": (e) => `Unblocked ${e.seat_labels.join(", ")}`,
  "screening.sold_out": () => "Sold out",
  "screening.back_on_sale": (e) => `Back on sale: ${e.seats_available} seats`,
  "screening.cancelled": (e) => `Screening cancelled: ${e.reason}`,
  "screening.scheduled": () => "Screening scheduled",
  "screening.rescheduled": () => "Screening rescheduled",
  "screening.updated": () => "Screening changed",
  "device_reservation.reserved": (e) => `${e.asset_tag} set aside for ${e.patron_name}`,
  "device_reservation.waitlisted": (e) => `${e.patron_name} waitlisted for a device (position ${e.position})`,
  "device_reservation.checked_out": (e) => `${e.asset_tag} checked out to ${e.patron_name}`,
  "device_reservation.returned": (e) => `${e.asset_tag} returned (${e.state.replace("_", " ")}${e.late ? ", late" : ""})`,
  "email.failed": (e) => `The ${e.kind} email to ${e.recipient} failed`,
  "email.resend_requested": (e) => `The ${e.kind} email to ${e.recipient} is sent again`,
};

// The time of day an event happened in the venue's own time zone (the programme's times are the
// venue's), not the staff computer's; with no zone known, the computer's with its zone's name.
function timeOfDay(at, zone) {
  const options = { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" };
  if (zone) options.timeZone = zone;
  else options.timeZoneName = "short";
  return at.toLocaleTimeString([], options);
}

// One line: the event in words, the screening (`line`, when it is on the day shown) and when.
export function logEvent(type, event, line, zone) {
  const words = WORDS[type] ? WORDS[type](event) : type;
  const where = line ? ` — ${line.film_title} ${localTime(line)}, ${line.auditorium_name}` : "";
  const at = new Date(event.occurred_at);
  const item = element(
    "li",
    {},
    element("time", { text: timeOfDay(at, zone), attrs: { datetime: event.occurred_at } }),
    `${words}${where}`,
  );
  const log = $("activity-log");
  log.prepend(item);
  while (log.children.length > 50) log.lastChild.remove();
}
