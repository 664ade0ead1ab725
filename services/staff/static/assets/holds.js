// The live holds beside the seat map: one row per hold with its seats (a wheelchair hold marked
// as one), its age, its countdown and a Release button.

import { $, element, keepingFocus } from "./dom.js";

export function clock(seconds) {
  const whole = Math.ceil(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function wheelchairMark(hold) {
  if (!hold.wheelchair_spaces) return [];
  const spaces = hold.wheelchair_spaces === 1 ? "1 wheelchair space" : `${hold.wheelchair_spaces} wheelchair spaces`;
  return [" ", element("span", { className: "mark wheelchair", text: `♿ ${spaces}` })];
}

// Fill the table; a release button that goes away with its hold hands the focus to the next
// row's, or to the table's heading when no hold is left.
export function renderHolds(holds, { onRelease, highlight }) {
  const body = $("holds");
  const buttons = () => [...body.querySelectorAll("button")];
  const focusedIndex = buttons().indexOf(document.activeElement);
  keepingFocus(
    body,
    () => {
      body.replaceChildren();
      $("holds-empty").hidden = holds.length > 0;
      $("holds-table").hidden = holds.length === 0;
      for (const hold of holds) body.append(holdRow(hold, onRelease, highlight));
    },
    () => buttons()[Math.min(focusedIndex, buttons().length - 1)] || $("holds-title"),
  );
}

function holdRow(hold, onRelease, highlight) {
  const seats = hold.seats.join(", ");
  const wheelchair = hold.wheelchair_spaces ? ` (${hold.wheelchair_spaces} wheelchair)` : "";
  const release = element("button", {
    className: "quiet",
    text: "Release",
    attrs: { type: "button", "aria-label": `Release the hold on ${seats}${wheelchair}`, "data-focus-key": `release-${hold.id}` },
  });
  release.addEventListener("click", () => onRelease(hold.id, hold.seats));
  const row = element(
    "tr",
    { attrs: { "data-hold": hold.id } },
    element("td", {}, seats, ...wheelchairMark(hold)),
    element("td", { className: "age" }),
    element("td", { className: "left" }),
    element("td", {}, release),
  );
  for (const kind of ["mouseenter", "focusin"]) row.addEventListener(kind, () => highlight(hold.seats));
  for (const kind of ["mouseleave", "focusout"]) row.addEventListener(kind, () => highlight([]));
  return row;
}
