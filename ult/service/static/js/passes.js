// "Add to Apple Wallet" / "Save to Google Wallet": a pass of this card, made on request.
// Only the wallets the service offers (the page config's `wallets`) get a button; none: no
// buttons at all. The key goes out on the socket, never in a URL: the answer is a one-time
// download link (Apple) or Google's save link, which the page then opens.
import { el, friendlyError, LANG, pageConfig, request, say } from "./common.js";

const BUTTON_TEXT = { apple: "add_apple_wallet", google: "save_google_wallet" };

/** The wallet kinds this service offers, as its page config says. */
export function walletKinds() {
  const kinds = pageConfig().wallets;
  return Array.isArray(kinds) ? kinds.filter((kind) => kind in BUTTON_TEXT) : [];
}

/**
 * Buttons making a pass of the card `key` at `sid`, in `slot` (emptied first); nothing when no
 * wallet is on. `socket` is the page's Socket.IO client.
 */
export function showPassButtons(slot, { socket, sid, key }) {
  const kinds = walletKinds();
  slot.replaceChildren();
  slot.hidden = kinds.length === 0;
  if (!kinds.length) return;
  const status = el("p", "wallet-pass-status");
  status.setAttribute("role", "status");
  for (const kind of kinds) {
    const button = el("button", `button button--secondary wallet-pass wallet-pass--${kind}`, say(BUTTON_TEXT[kind]));
    button.type = "button";
    button.addEventListener("click", async () => {
      button.disabled = true;
      status.textContent = say("wallet_opening");
      const ack = await request(socket, "pass", { sid, key, kind, lang: LANG });
      button.disabled = false;
      if (ack.ok && typeof ack.url === "string") {
        status.textContent = "";
        window.location.assign(ack.url); // Safari offers "Add"; Google's page offers "Save"
      } else {
        const words = friendlyError(ack);
        status.textContent = `${words.title} ${words.detail}`;
      }
    });
    slot.append(button);
  }
  slot.append(status);
}
