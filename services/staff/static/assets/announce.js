// What a screen reader hears of the live updates: the open screening's holds made, released,
// expiring soon and expired, and the live feed's connection state. A burst of events (a rush of
// bookings, the feed coming back with a backlog) becomes one polite summary said once it has
// been quiet for a moment, never one announcement per event.

const QUIET_MS = 800; // said this long after the last event of a burst...
const LONGEST_MS = 4000; // ...or this long after its first, if events keep coming

const PHRASES = [
  ["made", "hold made", "holds made"],
  ["changed", "hold changed", "holds changed"],
  ["expiring", "hold expiring soon", "holds expiring soon"],
  ["expired", "hold expired", "holds expired"],
  ["released", "hold released", "holds released"],
];

export class Announcer {
  constructor(region) {
    this.region = region;
    this.items = new Map(); // "made" -> ["F5, F6", "G1"]
    this.feed = null;
    this.feedSaid = null;
    this.timer = null;
    this.first = 0;
  }

  // A hold event: `what` one of PHRASES' keys, `seats` the hold's seats in words.
  hold(what, seats) {
    this.items.set(what, [...(this.items.get(what) || []), seats]);
    this.schedule();
  }

  // The feed's connection state in words ("Live updates on"); the last one of a burst wins, and
  // is said only when it differs from the last said (a stream the server ends and the page
  // picks up again at once is not news). `quietly` takes it as known without saying it.
  connection(text, { quietly = false } = {}) {
    if (quietly) {
      this.feedSaid = text;
      return;
    }
    this.feed = text;
    this.schedule();
  }

  // Drop what was collected (another screening was opened, or staff signed out: `forget`).
  clear({ forget = false } = {}) {
    if (forget) this.feedSaid = null;
    clearTimeout(this.timer);
    this.timer = null;
    this.items.clear();
    this.feed = null;
  }

  schedule() {
    const now = performance.now();
    if (!this.timer) this.first = now;
    clearTimeout(this.timer);
    const wait = Math.max(0, Math.min(QUIET_MS, this.first + LONGEST_MS - now));
    this.timer = setTimeout(() => this.say(), wait);
  }

  summary() {
    const sentences = [];
    for (const [key, one, many] of PHRASES) {
      const seats = this.items.get(key);
      if (!seats) continue;
      sentences.push(`${seats.length === 1 ? `1 ${one}` : `${seats.length} ${many}`}: ${seats.join("; ")}.`);
    }
    if (this.feed && this.feed !== this.feedSaid) sentences.push(`${this.feed}.`);
    return sentences.join(" ");
  }

  say() {
    const text = this.summary();
    if (this.feed) this.feedSaid = this.feed;
    this.clear();
    if (text) this.region.textContent = text;
  }
}
