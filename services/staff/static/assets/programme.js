// The day's screenings: each line with its time, status, film, place and an occupancy bar.

import { $, element, keepingFocus, setUsable } from "./dom.js";

export function countsText(counts) {
  return `${counts.available} available · ${counts.held} held · ${counts.booked} booked · ${counts.blocked} blocked`;
}

export function doorText(line) {
  return `At the door: ${line.admitted} of ${line.counts.booked} in`;
}

export function localTime(line) {
  return line.local_start.slice(11, 16);
}

export function localDay(line) {
  // local_date is the venue's own date: format it as a date, with no time zone shift.
  const day = new Date(`${line.local_date}T12:00:00Z`);
  return day.toLocaleDateString(undefined, { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" });
}

function occupancyBar(line) {
  const bar = element("span", { className: "bar", attrs: { "aria-hidden": "true" } });
  for (const status of ["booked", "held", "blocked"]) {
    const share = line.seats ? (100 * line.counts[status]) / line.seats : 0;
    const part = element("span", { className: status });
    part.style.width = `${share}%`;
    bar.append(part);
  }
  return bar;
}

export function renderProgramme(programme, current, open) {
  $("day").value = programme.day || "";
  // At either end of the programme the button stays focusable (aria-disabled, not disabled):
  // a disabled button would drop the focus on the page's body.
  setUsable($("day-previous"), Boolean(programme.previous_date));
  setUsable($("day-next"), Boolean(programme.next_date));
  const list = $("screenings");
  keepingFocus(
    $("programme"),
    () => {
      const focused = document.activeElement?.dataset?.screening;
      list.replaceChildren();
      $("programme-empty").hidden = programme.screenings.length > 0;
      for (const line of programme.screenings) list.append(element("li", {}, screeningButton(line, current, open)));
      if (focused) list.querySelector(`[data-screening="${focused}"]`)?.focus();
    },
    () => $("programme-title"),
  );
}

function screeningButton(line, current, open) {
  const status = line.status.replace("_", " ");
  const button = element(
    "button",
    { className: "screening", attrs: { type: "button", "data-screening": line.id } },
    element("span", { className: "when", text: localTime(line) }),
    " ",
    element("span", { className: "status", text: status }),
    element("span", { className: "what", text: line.film_title }),
    element("span", { className: "where", text: `${line.auditorium_name} · ${line.venue_name}` }),
    occupancyBar(line),
    element("span", { className: "counts", text: countsText(line.counts) }),
    element("span", { className: "door", text: doorText(line) }),
  );
  if (line.id === current) button.setAttribute("aria-current", "true");
  button.addEventListener("click", () => open(line.id));
  return button;
}
