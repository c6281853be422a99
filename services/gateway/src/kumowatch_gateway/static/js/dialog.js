// One modal dialog (the page's <dialog>), reused for acknowledge, silence and similar prompts.

import { h, replace } from "./dom.js";

let busy = false;

/**
 * Show the dialog. `fields`: [{name, label, type: "text"|"textarea"|"select"|"number", value,
 * options: [[value, label]], maxlength, required, step}]. `onSubmit(values)` runs on OK; if it
 * throws, its message is shown and the dialog stays open. Resolves true when submitted.
 */
export function openDialog({ title, text = "", fields = [], ok = "OK", onSubmit }) {
  const dialog = document.getElementById("dialog");
  const form = document.getElementById("dialog-form");
  const error = document.getElementById("dialog-error");
  const okButton = document.getElementById("dialog-ok");
  const cancel = document.getElementById("dialog-cancel");
  if (busy && dialog.open) dialog.close();
  document.getElementById("dialog-title").textContent = title;
  document.getElementById("dialog-text").textContent = text;
  error.textContent = "";
  okButton.textContent = ok;
  okButton.disabled = false;
  const inputs = new Map();
  replace(
    document.getElementById("dialog-fields"),
    fields.map((f) => {
      const id = `dialog-field-${f.name}`;
      let input;
      if (f.type === "textarea") {
        input = h("textarea", { id, name: f.name, rows: 3, maxlength: f.maxlength, required: f.required });
        input.value = f.value ?? "";
      } else if (f.type === "select") {
        input = h("select", { id, name: f.name }, f.options.map(([v, label]) => h("option", { value: v, text: label })));
        if (f.value !== undefined) input.value = f.value;
      } else {
        input = h("input", { id, name: f.name, type: f.type || "text", step: f.step, maxlength: f.maxlength, required: f.required, autocomplete: "off" });
        input.value = f.value ?? "";
      }
      inputs.set(f.name, input);
      return h("label", { for: id }, f.label, input);
    }),
  );

  return new Promise((resolve) => {
    busy = true;
    const done = (result) => {
      form.removeEventListener("submit", submit);
      cancel.removeEventListener("click", dismiss);
      dialog.removeEventListener("close", closed);
      busy = false;
      if (dialog.open) dialog.close();
      resolve(result);
    };
    const submit = async (event) => {
      event.preventDefault();
      const values = Object.fromEntries([...inputs].map(([k, input]) => [k, input.value]));
      okButton.disabled = true;
      error.textContent = "";
      try {
        if (onSubmit) await onSubmit(values);
        done(true);
      } catch (exc) {
        error.textContent = exc && typeof exc.describe === "function" ? exc.describe() : String(exc && exc.message ? exc.message : exc);
        okButton.disabled = false;
      }
    };
    const dismiss = () => done(false);
    const closed = () => done(false);
    form.addEventListener("submit", submit);
    cancel.addEventListener("click", dismiss);
    dialog.addEventListener("close", closed);
    dialog.showModal();
    const first = inputs.values().next().value;
    (first || okButton).focus();
  });
}
