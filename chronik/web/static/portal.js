// The customer portal works without JavaScript; this only keeps a message being written.
// A draft survives a reload, a click elsewhere in the portal, or a session that ran out
// while writing (sign in again, come back to "Write": the text is there). It lives in
// sessionStorage -- this tab only, gone when the tab closes -- under the customer's id,
// and signing out removes it, so the next person at a shared computer never sees it. Only
// the pages that need it load this script (write, the "received" notice, "signed out").

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
}

// Sent ("received" notice on the item) or signed out (the sign-in page says so; a session
// that merely ran out does not): the draft is done with.
if (document.querySelector("[data-message-sent], [data-signed-out]")) drop();
