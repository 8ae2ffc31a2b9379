// A button that asks the kernel for a file and saves it: the bytes arrive as a message buffer,
// so large files never sit in the widget state.
function render({ model, el }) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "jupyter-button widget-button ult-download";
  const label = () => {
    button.textContent = model.get("label");
    button.title = (model.get("hover_words") || "").replace("{filename}", model.get("filename"));
  };
  label();
  button.addEventListener("click", () => {
    button.disabled = true;
    model.send({ event: "download" });
  });
  const onMessage = (msg, buffers) => {
    if (!msg || msg.event !== "file") return;
    button.disabled = false;
    if (msg.error || !buffers || !buffers.length) {
      button.title = msg.error || model.get("failed_words") || "";
      return;
    }
    const url = URL.createObjectURL(new Blob(buffers, { type: msg.mime }));
    const link = document.createElement("a");
    link.href = url;
    link.download = msg.filename;
    link.style.display = "none";
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  };
  model.on("msg:custom", onMessage);
  model.on("change:label", label);
  model.on("change:hover_words", label);
  el.appendChild(button);
  return () => {
    model.off("msg:custom", onMessage);
    model.off("change:label", label);
    model.off("change:hover_words", label);
  };
}

export default { render };
