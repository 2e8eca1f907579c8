// Keys of a form with a subject and a text, as in mail programs (console compose, portal
// Write): Ctrl+Enter (Cmd+Enter on a Mac) sends from anywhere in the form; Enter in the
// subject (a phone keyboard's "Go" too) goes on to the text instead of sending a message
// that is only a subject.
export function subjectFormKeys(form) {
  form.subject.setAttribute("enterkeyhint", "next");
  form.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || event.altKey || event.isComposing) return;
    if (event.ctrlKey || event.metaKey) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.target === form.subject && !event.shiftKey) {
      event.preventDefault();
      form.body.focus();
    }
  });
}
