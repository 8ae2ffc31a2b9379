// The browser side of CounterCode: the rotating QR, a countdown, and a full-screen button.
//
// The kernel makes every code (the secret stays there). This side counts the window down and
// asks for the next code when it ends — only while the panel is on screen and the browser tab
// is visible. Closing the page ends it all: no timer is left anywhere.

const TICK_MS = 250;
const ASK_AGAIN_MS = 2000; // the kernel did not answer yet (or the window has not turned)

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// The words come from the kernel (`words`, in the dashboard's language).
function build(words) {
  const parts = {
    root: el("div", "ult-counter"),
    biz: el("p", "ult-counter-biz"),
    headline: el("p", "ult-counter-headline", words.headline),
    qr: el("div", "ult-counter-qr"),
    left: el("p", "ult-counter-left"),
    bar: el("div", "ult-counter-bar"),
    fill: el("div", "ult-counter-fill"),
    full: el("button", "ult-counter-full", words.full_screen),
  };
  parts.qr.setAttribute("role", "img");
  parts.qr.setAttribute("aria-label", words.qr_label);
  parts.left.setAttribute("aria-live", "off");
  parts.full.type = "button";
  parts.bar.append(parts.fill);
  parts.root.append(parts.biz, parts.headline, parts.qr, parts.bar, parts.left, parts.full);
  return parts;
}

function render({ model, el: host }) {
  const words = model.get("words");
  const ui = build(words);
  host.append(ui.root);
  let deadline = 0; // performance.now() when the shown code ends
  let askedAt = -Infinity;
  let timer = 0;
  let onScreen = false;

  const paintCode = () => {
    // svg: made by the kernel's QR library from our own URL, never from outside text.
    ui.qr.innerHTML = model.get("svg");
    ui.biz.textContent = model.get("biz");
    ui.root.dataset.url = model.get("url");
  };

  const restart = () => {
    deadline = performance.now() + model.get("seconds_left") * 1000;
    askedAt = -Infinity;
    tick();
  };

  const ask = () => {
    const now = performance.now();
    if (now - askedAt < ASK_AGAIN_MS) return;
    askedAt = now;
    model.send({ event: "refresh" });
  };

  function tick() {
    const windowMs = (model.get("window_s") || 30) * 1000;
    const left = Math.max(0, deadline - performance.now());
    const seconds = Math.ceil(left / 1000);
    ui.left.textContent = model.get("url") ? words.new_code.replace("{seconds}", String(seconds)) : "";
    ui.fill.style.width = `${Math.min(100, (left / windowMs) * 100)}%`;
    if (left <= 0 && model.get("url") && onScreen && !document.hidden) ask();
  }

  const running = () => onScreen && !document.hidden;
  const sync = () => {
    if (running() && !timer) {
      timer = setInterval(tick, TICK_MS);
      tick();
    } else if (!running() && timer) {
      clearInterval(timer);
      timer = 0;
    }
    ui.root.dataset.running = timer ? "yes" : "no"; // for tests and the curious
  };

  const observer = new IntersectionObserver((entries) => {
    onScreen = entries.some((entry) => entry.isIntersecting);
    sync();
  });
  observer.observe(ui.root);
  document.addEventListener("visibilitychange", sync);

  ui.full.addEventListener("click", () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else ui.root.requestFullscreen?.();
  });

  model.on("change:svg", paintCode);
  model.on("change:biz", paintCode);
  model.on("change:serial", restart);
  paintCode();
  restart();

  return () => {
    clearInterval(timer);
    timer = 0;
    observer.disconnect();
    document.removeEventListener("visibilitychange", sync);
    model.off("change:svg", paintCode);
    model.off("change:biz", paintCode);
    model.off("change:serial", restart);
  };
}

export default { render };
