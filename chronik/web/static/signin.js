// The sign-in page as the answer to its own form (a wrong password, "link sent"): its
// history entry becomes the plain sign-in page (replaceState turns it into a GET), so Back
// to it after signing in, or a reload, asks for no "Confirm Form Resubmission" and sends
// nothing again. Where the agent wanted to go (next) is kept in the address.
const next = document.querySelector('form[action="/signin"] input[name="next"]')?.value || "/";
const asked = new URLSearchParams(location.search).get("next") || "/";
const here = asked === next ? `${location.pathname}${location.search}`
  : `/signin?next=${encodeURIComponent(next)}`;
history.replaceState(history.state, "", here);
