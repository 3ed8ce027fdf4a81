// A number that changes once per event-loop turn, for per-turn accounting without a timer per
// user: the first caller in a turn schedules one shared setImmediate that moves it on.

let turn = 1;
let pending = false;
const next = () => { pending = false; turn++; };

/** The current turn's number (distinct from the previous turn's). */
export function loopTurn(): number {
  if (!pending) {
    pending = true;
    setImmediate(next);
  }
  return turn;
}
