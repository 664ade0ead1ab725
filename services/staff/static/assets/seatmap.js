// The seat map: an ARIA grid of seat buttons with one tab stop (roving tabindex). Arrow keys
// move between seats, Home/End to a row's ends, Enter or Space selects. The grid is built once
// per screening and updated in place, so a live update never moves the keyboard focus.

const STATUS_WORDS = {
  available: "available",
  held: "held",
  booked: "booked",
  blocked: "blocked",
};
const KIND_WORDS = {
  wheelchair: "wheelchair space",
  companion: "companion seat",
  restricted_view: "restricted view",
  aisle: "aisle seat",
  standard: "",
};

export class SeatMap {
  constructor(element, { onSelectionChange }) {
    this.element = element;
    this.onSelectionChange = onSelectionChange;
    this.screeningId = null;
    this.buttons = new Map(); // label -> button
    this.rows = []; // [[button, ...], ...] in map order
    this.seats = new Map(); // label -> seat
    this.selected = new Set();
    element.addEventListener("keydown", (event) => this.onKey(event));
  }

  show(screeningId, seats) {
    if (screeningId !== this.screeningId) this.build(screeningId, seats);
    this.update(seats);
  }

  build(screeningId, seats) {
    this.screeningId = screeningId;
    this.selected.clear();
    this.buttons.clear();
    this.rows = [];
    this.element.replaceChildren();
    const columns = Math.max(1, ...seats.map((seat) => Math.round(seat.x)));
    const byRow = new Map();
    for (const seat of seats) {
      if (!byRow.has(seat.row_number)) byRow.set(seat.row_number, []);
      byRow.get(seat.row_number).push(seat);
    }
    const rowNumbers = [...byRow.keys()].sort((a, b) => a - b);
    for (const number of rowNumbers) {
      const rowSeats = byRow.get(number).sort((a, b) => a.x - b.x || a.position - b.position);
      const row = document.createElement("div");
      row.className = "seat-row";
      row.setAttribute("role", "row");
      row.style.setProperty("--columns", String(columns));
      const header = document.createElement("span");
      header.className = "row-label";
      header.setAttribute("role", "rowheader");
      header.textContent = rowSeats[0].row_label;
      header.setAttribute("aria-label", `Row ${rowSeats[0].row_label}`);
      row.append(header);
      const buttons = [];
      for (const seat of rowSeats) {
        const cell = document.createElement("span");
        cell.setAttribute("role", "gridcell");
        cell.style.gridColumn = String(Math.round(seat.x) + 1);
        const button = document.createElement("button");
        button.type = "button";
        button.className = "seat";
        button.tabIndex = -1;
        button.dataset.label = seat.label;
        button.dataset.kind = seat.kind;
        button.textContent = seat.label.slice(seat.row_label.length) || seat.label;
        button.setAttribute("aria-pressed", "false");
        button.addEventListener("click", () => this.toggle(seat.label));
        button.addEventListener("focus", () => this.rove(button));
        cell.append(button);
        row.append(cell);
        buttons.push(button);
        this.buttons.set(seat.label, button);
      }
      this.rows.push(buttons);
      this.element.append(row);
    }
    if (this.rows.length && this.rows[0].length) this.rows[0][0].tabIndex = 0;
  }

  update(seats) {
    for (const seat of seats) {
      this.seats.set(seat.label, seat);
      const button = this.buttons.get(seat.label);
      if (!button) continue;
      button.dataset.status = seat.status;
      button.setAttribute("aria-label", this.describe(seat));
      button.title = this.describe(seat);
    }
    this.onSelectionChange(this.selection());
  }

  // "Row F, seat 12, held": the name holds the number shown on the seat (WCAG 2.5.3).
  describe(seat) {
    const number = seat.label.startsWith(seat.row_label) ? seat.label.slice(seat.row_label.length) : "";
    const where = number ? `Row ${seat.row_label}, seat ${number}` : `Seat ${seat.label}`;
    const parts = [`${where}, ${STATUS_WORDS[seat.status]}`];
    if (KIND_WORDS[seat.kind]) parts.push(KIND_WORDS[seat.kind]);
    if (seat.booking_reference) parts.push(`booking ${seat.booking_reference}`);
    if (seat.note) parts.push(`note: ${seat.note}`);
    return parts.join(", ");
  }

  toggle(label) {
    if (this.selected.has(label)) this.selected.delete(label);
    else this.selected.add(label);
    this.buttons.get(label)?.setAttribute("aria-pressed", String(this.selected.has(label)));
    this.onSelectionChange(this.selection());
  }

  deselect(labels) {
    for (const label of labels) {
      this.selected.delete(label);
      this.buttons.get(label)?.setAttribute("aria-pressed", "false");
    }
    this.onSelectionChange(this.selection());
  }

  selection() {
    return [...this.selected].map((label) => this.seats.get(label)).filter(Boolean);
  }

  highlight(labels) {
    const wanted = new Set(labels);
    for (const [label, button] of this.buttons) button.classList.toggle("linked", wanted.has(label));
  }

  rove(button) {
    for (const row of this.rows) for (const other of row) other.tabIndex = other === button ? 0 : -1;
  }

  // The seat that has the map's one tab stop: where the focus goes back to after an action.
  current() {
    return this.rows.flat().find((button) => button.tabIndex === 0) || null;
  }

  focusSeat(label) {
    const button = this.buttons.get(label);
    if (button) button.focus();
  }

  onKey(event) {
    const button = event.target.closest?.("button.seat");
    if (!button) return;
    const r = this.rows.findIndex((row) => row.includes(button));
    const c = this.rows[r].indexOf(button);
    let next = null;
    const near = (row) => {
      const x = button.getBoundingClientRect().left;
      return row.reduce((best, b) =>
        Math.abs(b.getBoundingClientRect().left - x) < Math.abs(best.getBoundingClientRect().left - x) ? b : best,
      );
    };
    switch (event.key) {
      case "ArrowRight": next = this.rows[r][c + 1]; break;
      case "ArrowLeft": next = this.rows[r][c - 1]; break;
      case "ArrowDown": next = this.rows[r + 1] && near(this.rows[r + 1]); break;
      case "ArrowUp": next = this.rows[r - 1] && near(this.rows[r - 1]); break;
      case "Home": next = event.ctrlKey ? this.rows[0][0] : this.rows[r][0]; break;
      case "End": {
        const row = event.ctrlKey ? this.rows[this.rows.length - 1] : this.rows[r];
        next = row[row.length - 1];
        break;
      }
      default: return;
    }
    event.preventDefault();
    if (next) next.focus();
  }
}
