// The sign-in page as the answer to its own form (a wrong password, "link sent"): its
// history entry becomes the plain sign-in page, so Back to it after signing in, or a reload,
// asks for no "Confirm Form Resubmission" and sends nothing again. Where the agent wanted
// to go (next) is kept.
const next = document.querySelector('form[action="/signin"] input[name="next"]')?.value;
const here = next && next !== "/" ? `/signin?next=${encodeURIComponent(next)}` : "/signin";
if (`${location.pathname}${location.search}` !== here) history.replaceState(history.state, "", here);
