// A sponsor's promotions as the customer's pages word them (texts from ult/messages.py).
import { count, say } from "./common.js";

const TIME = { hour: "2-digit", minute: "2-digit" };
const DAY_TIME = { weekday: "short", hour: "2-digit", minute: "2-digit" };

/** "14:00" today, else "Tue 14:00" (the phone's own clock and language). */
function when(ms) {
  const at = new Date(Number(ms));
  const sameDay = at.toDateString() === new Date().toDateString();
  return at.toLocaleString(undefined, sameDay ? TIME : DAY_TIME);
}

/** "Double points — 2 points": what the promotion gave this scan, or "" when none applied. */
export function appliedLine(ack) {
  const promo = ack && ack.promotion;
  if (!promo || !promo.name) return "";
  return say("promo_applied", { name: promo.name, points: count("points", Number(ack.gained) || 0) });
}

/** The sponsor's running and next promotion, as lines ([] when there are none). */
export function promotionLines(promotions) {
  const lines = [];
  const active = promotions && promotions.active;
  const next = promotions && promotions.next;
  if (active) {
    lines.push(say("promo_active", {
      name: active.name, multiplier: active.multiplier, until: when(active.until_ms),
    }));
  }
  if (next) {
    lines.push(say("promo_next", {
      name: next.name, multiplier: next.multiplier, when: when(next.start_ms),
    }));
  }
  return lines;
}
