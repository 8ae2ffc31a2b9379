// The browser side of ActionTable: a table of plain-text cells with buttons per row.
//
// Every cell goes in with textContent (never innerHTML): text from customers and sponsors
// stays text. A click disables the row's buttons and tells the kernel; the kernel answers
// "done" (and usually new rows), which re-enables them. An action with `confirm` needs a
// second click within a few seconds.

const CONFIRM_MS = 4000;
const SAFE_CLASS = /^[A-Za-z0-9_-]{1,64}$/;

function addClasses(node, text) {
  for (const name of String(text || "").split(/\s+/)) {
    if (SAFE_CLASS.test(name)) node.classList.add(name);
  }
}

// Per view: which button waits for its second click, which rows wait for the kernel.
// Both survive redraws (the live feed redraws on every new scan).
function newViewState() {
  return { armed: null, armedUntil: 0, busy: new Set() };
}

function button(model, view, row, action, redraw) {
  const b = document.createElement("button");
  b.type = "button";
  const key = `${row.id}\u0000${action.name}`;
  const armed = view.armed === key && Date.now() < view.armedUntil;
  b.textContent = armed ? action.confirm : action.label;
  addClasses(b, `ult-act ult-act-${action.name} ult-act-${action.style || "plain"}`);
  if (armed) b.classList.add("ult-act-armed");
  b.disabled = view.busy.has(row.id);
  b.addEventListener("click", () => {
    if (action.confirm && !(view.armed === key && Date.now() < view.armedUntil)) {
      view.armed = key;
      view.armedUntil = Date.now() + CONFIRM_MS;
      setTimeout(redraw, CONFIRM_MS + 50);
      redraw();
      return;
    }
    view.armed = null;
    view.busy.add(row.id);
    redraw();
    model.send({ event: "action", action: action.name, id: row.id });
  });
  return b;
}

function draw(model, view, el, redraw) {
  const columns = model.get("columns") || [];
  const rows = model.get("rows") || [];
  el.replaceChildren();
  if (!rows.length) {
    const p = document.createElement("p");
    p.className = "ult-empty";
    p.textContent = model.get("empty") || "";
    el.append(p);
    return;
  }
  const table = document.createElement("table");
  addClasses(table, "ult-table");
  const head = table.createTHead().insertRow();
  for (const col of columns) {
    const th = document.createElement("th");
    th.textContent = col.label;
    head.append(th);
  }
  const withActions = rows.some((row) => (row.actions || []).length);
  if (withActions) head.append(document.createElement("th"));
  const body = table.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    tr.dataset.id = row.id;
    addClasses(tr, row.css);
    for (const col of columns) {
      const td = tr.insertCell();
      addClasses(td, col.css);
      const text = (row.cells || {})[col.key];
      if ((row.cell_css || {})[col.key]) {
        const span = document.createElement("span");
        addClasses(span, row.cell_css[col.key]);
        span.textContent = text ?? "";
        td.append(span);
      } else {
        td.textContent = text ?? "";
      }
    }
    if (withActions) {
      const td = tr.insertCell();
      td.className = "ult-actions";
      for (const action of row.actions || []) td.append(button(model, view, row, action, redraw));
    }
  }
  el.append(table);
}

function render({ model, el }) {
  addClasses(el, `ult-action-table ${model.get("css")}`);
  const view = newViewState();
  const redraw = () => draw(model, view, el, redraw);
  const onMessage = (msg) => {
    if (msg && msg.event === "done") {
      view.busy.delete(msg.id);
      redraw();
    }
  };
  const events = ["change:rows", "change:columns", "change:empty"];
  for (const name of events) model.on(name, redraw);
  model.on("msg:custom", onMessage);
  redraw();
  return () => {
    for (const name of events) model.off(name, redraw);
    model.off("msg:custom", onMessage);
  };
}

export default { render };
