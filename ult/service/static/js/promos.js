// A sponsor's promotions as the customer's pages word them (texts from ult/messages.py).
import { count, own, say, timeText } from "./common.js";

/** "2:00 PM" today, else "Tue 2:00 PM" (the phone's own clock, the page's language). */
function when(ms) {
  const sameDay = new Date(Number(ms)).toDateString() === new Date().toDateString();
  return timeText(ms, { weekday: !sameDay });
}

/** "Double points — 2 points": what the promotion gave this scan (parts for `setText`), or
 * "" when none applied. */
export function appliedLine(ack) {
  const promo = ack && ack.promotion;
  if (!promo || !promo.name) return "";
  return say("promo_applied", { name: own(promo.name), points: count("points", Number(ack.gained) || 0) });
}

/** The sponsor's running and next promotion, as lines of parts for `el` ([] when none). */
export function promotionLines(promotions) {
  const lines = [];
  const active = promotions && promotions.active;
  const next = promotions && promotions.next;
  if (active) {
    lines.push(say("promo_active", {
      name: own(active.name), multiplier: active.multiplier, until: when(active.until_ms),
    }));
  }
  if (next) {
    lines.push(say("promo_next", {
      name: own(next.name), multiplier: next.multiplier, when: when(next.start_ms),
    }));
  }
  return lines;
}
