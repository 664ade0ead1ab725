// The panels filled per screening from other parts' staff routes, and the desk's actions on
// them: hand an access device over by its asset tag and take it back (docs/access.md), send a
// failed email again (docs/emails.md). Each action is one call to the part's own route, which
// records the staff action and its event; a refusal shows the problem's `detail`.

import { api, ApiError } from "./api.js";
import { $, element, setUsable } from "./dom.js";

const KIND_NAMES = {
  assistive_listening: "Assistive-listening receiver",
  neckloop: "Neckloop (T-coil)",
  captioning: "Captioning device",
  audio_description: "Audio-description receiver",
};

const RETURN_STATES = [
  ["charging", "Charging"],
  ["available", "Charged, ready to lend"],
  ["needs_repair", "Needs repair"],
  ["retired", "Lost or retired"],
];

function pickupLine(item) {
  const who = `${item.patron_name}${item.seats.length ? ` (${item.seats.join(", ")})` : ""}`;
  const what = KIND_NAMES[item.kind] ?? item.kind;
  const unit = item.device ? `unit ${item.device.asset_tag}` : "no unit yet";
  let state;
  if (item.status === "waitlisted") state = `waitlisted, position ${item.position}`;
  else if (item.status === "returned") state = "returned";
  else if (item.status === "no_show") state = "not collected";
  else if (item.status === "checked_out") state = item.overdue ? "on loan, OVERDUE" : "on loan";
  else state = item.ready ? "ready to hand over" : `not ready: ${item.problem ?? "check the unit"}`;
  return `${who}: ${what}, ${unit}, ${state}`;
}

function emailLine(email) {
  return (
    `${email.kind} to ${email.recipient_name} <${email.recipient}>: ` +
    `${email.failure ?? "failed"} after ${email.attempts} attempt(s)` +
    (email.last_error ? ` (${email.last_error})` : "")
  );
}

// A small form: its fields, then its button; Enter in a field submits it.
function deskForm(fields, button, onSubmit) {
  const form = element("form", { className: "desk-form" }, ...fields, button);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.dataset.busy) onSubmit(form);
  });
  return form;
}

function field(id, label, control) {
  control.id = id;
  control.dataset.focusKey = id;
  control.addEventListener("input", () => (control.dataset.edited = "true"));
  return element("span", { className: "field inline" }, element("label", { text: label, attrs: { for: id } }), control);
}

function renderPickup(item) {
  const id = item.reservation_id;
  const line = element("p", { className: "line", text: pickupLine(item), attrs: { tabindex: "-1", "data-focus-key": `line-${id}` } });
  const node = element("li", { className: "desk-item", attrs: { "data-reservation": id } }, line);
  if (item.status === "reserved") {
    const tag = element("input", {
      attrs: { type: "text", value: item.device?.asset_tag ?? "", maxlength: "40", autocomplete: "off", spellcheck: "false" },
    });
    const button = element("button", {
      className: "primary",
      text: "Check out",
      attrs: { type: "submit", "aria-label": `Check out a unit to ${item.patron_name}`, "data-focus-key": `check-out-${id}` },
    });
    node.append(deskForm([field(`tag-${id}`, "Asset tag", tag)], button, () => checkOut(item, tag)));
  } else if (item.status === "checked_out" && item.device) {
    const unit = item.device;
    const state = element("select", {}, ...RETURN_STATES.map(([value, text]) => element("option", { text, attrs: { value } })));
    const button = element("button", {
      text: `Return ${unit.asset_tag}`,
      attrs: { type: "submit", "data-focus-key": `return-${id}` },
    });
    node.append(deskForm([field(`state-${id}`, "Comes back", state)], button, () => giveBack(item, state)));
  }
  return node;
}

function renderEmail(email) {
  const id = email.id;
  const line = element("p", { className: "line", text: emailLine(email) });
  const to = element("input", { attrs: { type: "email", value: email.recipient, maxlength: "254", autocomplete: "off" } });
  const button = element("button", {
    className: "primary",
    text: "Resend",
    attrs: { type: "submit", "aria-label": `Resend the ${email.kind} email to ${email.recipient_name || email.recipient}`, "data-focus-key": `resend-${id}` },
  });
  const form = deskForm([field(`to-${id}`, "Send to", to)], button, () => resend(email, to));
  return element("li", { className: "desk-item", attrs: { "data-email": id } }, line, form);
}

// Panels filled per screening: {element, message, events (type prefixes that refresh it),
// load (screening id -> rows), render (row -> node)}.
export const PANELS = [
  {
    element: "pickups-list",
    message: "pickups-message",
    events: ["device_reservation.", "device."],
    load: async (screeningId) =>
      screeningId ? (await api(`/v1/screenings/${screeningId}/device-pickups`)).items : [],
    render: renderPickup,
  },
  {
    element: "failed-emails-list",
    message: "failed-emails-message",
    events: ["email."],
    load: async (screeningId) =>
      screeningId
        ? (await api("/v1/staff/emails", { query: [["status", "failed"], ["screening", screeningId]] })).items
        : [],
    render: renderEmail,
  },
];

export function refreshesPanels(type) {
  return PANELS.some((panel) => panel.events.some((prefix) => type.startsWith(prefix)));
}

let screening = null;
let loading = Promise.resolve();

// Fill every panel for the screening (one fill at a time, in order). A refresh keeps what staff
// were typing and where the focus was: a live update never moves the focus.
export function loadPanels(screeningId) {
  screening = screeningId;
  loading = loading.catch(() => {}).then(() => fill(screeningId));
  return loading;
}

async function fill(screeningId) {
  for (const panel of PANELS) {
    const rows = await panel.load(screeningId);
    if (screeningId !== screening) return;
    const list = $(panel.element);
    const focused = list.contains(document.activeElement) ? document.activeElement.dataset.focusKey : null;
    const typed = new Map();
    for (const control of list.querySelectorAll("[data-edited]")) typed.set(control.dataset.focusKey, control.value);
    list.replaceChildren(...rows.map((row) => panel.render(row)));
    for (const [key, value] of typed) {
      const control = list.querySelector(`[data-focus-key="${key}"]`);
      if (control) {
        control.value = value;
        control.dataset.edited = "true";
      }
    }
    if (focused) {
      const again = list.querySelector(`[data-focus-key="${focused}"]`);
      if (again) again.focus();
      else list.closest("section")?.querySelector("h2")?.focus();
    }
  }
}

function problemText(error) {
  if (!(error instanceof ApiError)) return String(error?.message ?? error);
  const problem = error.problem || {};
  return problem.detail || problem.title || error.message;
}

function tell(panel, text, failed) {
  const message = $(panel.message);
  message.textContent = text;
  message.classList.toggle("error", failed);
}

// Run one desk action: fill the panels again, put the focus on `after` (or, when it failed,
// back on `retry` to correct it), then say how it went. While it runs the form's button is
// aria-disabled, not disabled: a disabled button would drop the focus on the page's body.
async function act(panel, form, work, { after, retry }) {
  const buttons = form.querySelectorAll("button");
  form.dataset.busy = "true";
  for (const button of buttons) setUsable(button, false);
  let next = after;
  let told;
  try {
    told = [await work(), false];
  } catch (error) {
    told = [`Not done: ${problemText(error)}`, true];
    next = retry;
  }
  delete form.dataset.busy;
  for (const button of buttons) setUsable(button, true);
  await loadPanels(screening).catch(console.error);
  const list = $(panel.element);
  const target = list.querySelector(`[data-focus-key="${next}"]`) || list.closest("section").querySelector("h2");
  target.focus();
  if (next === retry && target.select) target.select();
  tell(panel, ...told);
}

function checkOut(item, input) {
  const id = item.reservation_id;
  const form = input.form;
  const tag = input.value.trim();
  if (!tag) {
    tell(PANELS[0], "Enter the asset tag on the unit you hand over.", true);
    input.focus();
    return;
  }
  return act(
    PANELS[0],
    form,
    async () => {
      const done = await api(`/v1/device-pickups/${id}/check-out`, { method: "POST", body: { asset_tag: tag } });
      return `${done.device?.asset_tag ?? tag} checked out to ${done.patron_name}.`;
    },
    { after: `line-${id}`, retry: `tag-${id}` },
  );
}

function giveBack(item, select) {
  const id = item.reservation_id;
  const unit = item.device;
  return act(
    PANELS[0],
    select.form,
    async () => {
      const path = `/v1/venues/${unit.venue_id}/devices/${encodeURIComponent(unit.asset_tag)}/return`;
      const device = await api(path, { method: "POST", body: { state: select.value } });
      return `${device.asset_tag} returned: ${device.state.replace("_", " ")}.`;
    },
    { after: `line-${id}`, retry: `state-${id}` },
  );
}

function resend(email, input) {
  const id = email.id;
  const to = input.value.trim();
  const body = to && to !== email.recipient ? { recipient: to } : {};
  return act(
    PANELS[1],
    input.form,
    async () => {
      const sent = await api(`/v1/staff/emails/${id}/resend`, { method: "POST", body });
      return `The ${sent.kind} email to ${sent.recipient} is queued to be sent again.`;
    },
    { after: null, retry: `to-${id}` },
  );
}
