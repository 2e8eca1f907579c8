// The customer portal works without JavaScript; this keeps a message being written and
// says what the server would refuse before anything is sent.
// A draft survives a reload, a click elsewhere in the portal, or a session that ran out
// while writing (sign in again, come back to "Write": the text is there). It lives in
// sessionStorage -- this tab only, gone when the tab closes -- under the customer's id,
// and signing out removes it, so the next person at a shared computer never sees it. Only
// the pages that need it load this script (write, the "received" notice, "signed out").
// On the write form: a counter near a text field's limit (counted as the server counts:
// characters, a line break is one), and files over the upload limit are named at once;
// either stops the form from being sent (the server refuses both too, keeping the text).
import { subjectFormKeys } from "./keys.js";

const PREFIX = "chronik-portal-draft:";

function drop() {
  try {
    for (const key of Object.keys(sessionStorage)) {
      if (key.startsWith(PREFIX)) sessionStorage.removeItem(key);
    }
  } catch (error) { /* storage off */ }
}

const form = document.getElementById("portal-write");
if (form) {
  const key = PREFIX + form.dataset.customer;
  const save = () => {
    try {
      if (form.subject.value || form.body.value) {
        sessionStorage.setItem(key, JSON.stringify({ subject: form.subject.value, body: form.body.value }));
      } else {
        sessionStorage.removeItem(key);
      }
    } catch (error) { /* storage off or full: no draft */ }
  };
  try {
    const draft = JSON.parse(sessionStorage.getItem(key) || "null");
    if (draft && !form.subject.value.trim() && !form.body.value) {
      if (draft.subject) form.subject.value = draft.subject;
      form.body.value = draft.body ?? "";
    } else if (draft && form.subject.value && !form.body.value && draft.subject === form.subject.value) {
      form.body.value = draft.body ?? "";  // an answer to the same item
    }
  } catch (error) { /* a damaged draft is dropped */ }
  form.subject.addEventListener("input", save);
  form.body.addEventListener("input", save);
  subjectFormKeys(form);
  dropped(form);
  checks(form);
  // A page the server answered a sent form with (a refusal, the text kept): its history
  // entry becomes the form's own address, so Back and reload do not offer to send again.
  if (form.dataset.formUrl) history.replaceState(null, "", form.dataset.formUrl);
}


// A file dragged from the desktop anywhere onto the page, or a picture pasted, joins the
// files of the message (the browser would otherwise open the file and leave the page).
function dropped(form) {
  const picker = form.querySelector('input[type="file"]');
  if (!picker) return;
  const add = (list) => {
    const files = [...(list ?? [])].filter((f) => f.size > 0 || f.type);
    if (!files.length) return false;
    const all = new DataTransfer();
    for (const file of picker.files) all.items.add(file);
    for (const file of files) all.items.add(file);
    picker.files = all.files;
    picker.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  };
  const carriesFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
  document.addEventListener("dragover", (event) => { if (carriesFiles(event)) event.preventDefault(); });
  document.addEventListener("drop", (event) => {
    if (carriesFiles(event) || event.dataTransfer?.files?.length) {
      event.preventDefault();
      add(event.dataTransfer.files);
    }
  });
  form.addEventListener("paste", (event) => { if (add(event.clipboardData?.files)) event.preventDefault(); });
}

function checks(form) {
  const number = new Intl.NumberFormat(document.documentElement.lang || undefined);
  const fill = (text, values) => text.replace(/\{(\w+)\}/g, (_, name) => number.format(values[name]));
  const counted = [...form.querySelectorAll("[data-max-chars]")].map((field) => {
    const most = Number(field.dataset.maxChars);
    const out = document.getElementById(field.id + "-count");
    const update = () => {
      if (field.value.length < most * 0.9) {  // far from it (never fewer units than characters)
        out.hidden = true;
        field.removeAttribute("aria-invalid");
        return true;
      }
      const n = [...field.value.trim()].length;  // characters, as the server counts them
      const over = n > most;
      out.hidden = n < most * 0.9;
      out.classList.toggle("muted", !over);
      out.classList.toggle("notice", over);
      out.classList.toggle("error", over);
      out.textContent = over ? fill(form.dataset.over, { n, max: most, over: n - most })
        : fill(form.dataset.count, { n, max: most });
      if (over) field.setAttribute("aria-invalid", "true"); else field.removeAttribute("aria-invalid");
      return !over;
    };
    field.addEventListener("input", update);
    update();
    return { field, update };
  });
  const files = form.querySelector('input[type="file"]');
  const error = document.getElementById("write-files-error");
  const sizeOk = () => {
    const most = Number(form.dataset.maxBytes);
    let total = new Blob([form.subject.value, form.body.value]).size;
    for (const file of files?.files ?? []) total += file.size;
    const ok = !files || total <= most;
    error.hidden = ok;
    error.textContent = ok ? "" : form.dataset.tooLarge;
    if (ok) files?.removeAttribute("aria-invalid"); else files.setAttribute("aria-invalid", "true");
    return ok;
  };
  files?.addEventListener("change", sizeOk);
  form.addEventListener("submit", (event) => {
    const tooLong = counted.find(({ update }) => !update());
    const tooLarge = !sizeOk();
    if (tooLong || tooLarge) {
      event.preventDefault();
      (tooLong ? tooLong.field : files).focus();
    }
  });
}

// Sent ("received" notice on the item) or signed out (the sign-in page says so; a session
// that merely ran out does not): the draft is done with.
if (document.querySelector("[data-message-sent], [data-signed-out]")) drop();
