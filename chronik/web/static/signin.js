// The console's sign-in page.
// 1. A link with a #part (a caller banner's "#compose", an entry's "#e-…") reaches the
//    sign-in page with it (a redirect keeps the part of the address after #), but the
//    server never sees it: it joins "next", so signing in lands on that very spot.
// 2. The page as the answer to its own form (a wrong password, "link sent"): its history
//    entry becomes the plain sign-in page (replaceState turns it into a GET), so Back to it
//    after signing in, or a reload, asks for no "Confirm Form Resubmission" and sends
//    nothing again. Where the agent wanted to go (next) is kept in the address.
const field = document.querySelector('form[action="/signin"] input[name="next"]');
if (field && location.hash.length > 1 && !field.value.includes("#")) field.value += location.hash;
const next = field?.value || "/";
const asked = new URLSearchParams(location.search).get("next") || "/";
const here = asked === next ? `${location.pathname}${location.search}`
  : `/signin?next=${encodeURIComponent(next)}`;
history.replaceState(history.state, "", here);
