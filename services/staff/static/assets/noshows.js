// After a screening's start, the bookings with seats nobody has used yet (the no-show list).

import { api } from "./api.js";
import { $, element } from "./dom.js";

export async function renderNoShows(line) {
  const started = new Date(line.starts_at).getTime() <= Date.now();
  $("no-shows").hidden = !started;
  if (!started) return;
  const missing = await api(`/v1/door/screenings/${line.id}/no-shows`);
  $("no-shows-empty").hidden = missing.length > 0;
  $("no-shows-list").replaceChildren(
    ...missing.map((booking) =>
      element("li", { text: `${booking.booking_reference} · ${booking.patron_name} · ${booking.seats.join(", ")}` }),
    ),
  );
}
