// A button that prints a standalone HTML document (the posters) and nothing else: the
// document goes into a hidden iframe (same origin, scripts disabled) whose window prints.
function render({ model, el }) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "jupyter-button widget-button mod-primary ult-print";
  const label = () => { button.textContent = model.get("label"); };
  label();
  button.addEventListener("click", () => {
    document.querySelectorAll("iframe.ult-print-frame").forEach((f) => f.remove());
    const frame = document.createElement("iframe");
    frame.className = "ult-print-frame";
    frame.setAttribute("aria-hidden", "true");
    frame.setAttribute("sandbox", "allow-same-origin allow-modals");
    frame.style.cssText = "position:fixed;right:0;bottom:0;width:0;height:0;border:0;";
    frame.addEventListener("load", () => {
      frame.contentWindow.focus();
      frame.contentWindow.print();
    }, { once: true });
    frame.srcdoc = model.get("html");
    document.body.appendChild(frame);
  });
  model.on("change:label", label);
  el.appendChild(button);
  return () => model.off("change:label", label);
}

export default { render };
