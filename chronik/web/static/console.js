// Chronik console: live events, caller banner, timeline paging, compose checks.
// Plain ES module, no framework; every page works without it (forms post normally).
import { subjectFormKeys } from "./keys.js";

let csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const lang = document.documentElement.lang || "de";

function headers(extra = {}) {
  return { "X-CSRF-Token": csrf, ...extra };
}

async function fetchHTML(url) {
  const response = await fetch(url, { credentials: "same-origin" });
  if (response.redirected && new URL(response.url).pathname === "/signin") {
    signedOut();  // (the sign-in page is no fragment to show)
    throw new Error("signed out");
  }
  if (!response.ok) throw new Error(`${response.status}`);
  return { html: await response.text(), response };
}

function fragment(html) {
  const template = document.createElement("template");
  template.innerHTML = html.trim();
  return template.content;
}

// ---------------------------------------------------------------- small behaviours
// a form that deletes something asks first (data-confirm: the question)
document.addEventListener("submit", (event) => {
  const question = event.target.dataset?.confirm;
  if (question && !window.confirm(question)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);
// A choice made with the mouse applies at once; with the keyboard, arrows only move through
// the options (Chromium changes a closed select on every arrow key) and Enter applies it.
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  let byKey = false;
  select.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      select.form.requestSubmit();
    } else if (event.key !== "Tab") {
      byKey = true;
    }
  });
  select.addEventListener("pointerdown", () => { byKey = false; });
  select.addEventListener("change", () => { if (!byKey) select.form.requestSubmit(); });
}

// The customer's page as the answer to one of its forms (a profile change refused, an
// entry sent without script and said again with what was wrong): its history entry becomes
// the customer's own address, so Back to it after the next step, or a reload, asks for no
// "Confirm Form Resubmission" and sends nothing twice.
const customerPage = document.querySelector(".customer-layout[data-customer]");
if (customerPage) {
  const own = `/customers/${encodeURIComponent(customerPage.dataset.customer)}`;
  if (location.pathname !== own) history.replaceState(history.state, "", `${own}${location.hash}`);
}

function highlight(id) {
  const el = document.getElementById(`e-${id}`);
  if (!el) return;
  el.classList.add("highlight");
  setTimeout(() => el.classList.remove("highlight"), 4000);
}
if (location.hash.startsWith("#e-")) highlight(location.hash.slice(3));

// ---------------------------------------------------------------- timeline
const timeline = document.getElementById("timeline");
const customerId = timeline?.dataset.customer;

// A link to one entry ("#e-…": the entry a note answers, the one a reply is written to, the
// newest beside the form) whose entry is not on this page -- further back, filtered out,
// or the link opened in a new tab -- opens the history from that entry (?focus=) instead
// of doing nothing. One on the page is scrolled to and marked, as before.
function focusUrl(id) {
  const url = new URL(`/customers/${encodeURIComponent(customerId)}`, location.href);
  url.searchParams.set("focus", id);
  url.hash = `e-${id}`;
  return url;
}
if (timeline && location.hash.startsWith("#e-") && !document.getElementById(location.hash.slice(1))) {
  const id = decodeURIComponent(location.hash.slice(3));
  if (new URLSearchParams(location.search).get("focus") !== id) location.replace(focusUrl(id));
}
document.addEventListener("click", (event) => {
  const link = event.target.closest?.('a[href^="#e-"]');
  if (!link || !timeline || event.defaultPrevented || event.button !== 0
      || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
  const id = decodeURIComponent(link.getAttribute("href").slice(3));
  if (document.getElementById(`e-${id}`)) {
    setTimeout(() => highlight(id));  // (the browser scrolls to it)
    return;
  }
  event.preventDefault();
  location.assign(focusUrl(id));
});

async function showEntry(entryId, { prepend = true } = {}) {
  const { html, response } = await fetchHTML(`/entries/${encodeURIComponent(entryId)}/item`);
  if (response.headers.get("X-Customer-Id") !== customerId) return;
  const node = fragment(html).firstElementChild;
  if (!node) return;
  // a message of a Telegram album: the item stands for the whole album, whose messages may
  // have been shown one by one so far (X-Album: the other messages' ids)
  const ids = [node.dataset.id, ...(response.headers.get("X-Album") ?? "").split(" ")];
  const [existing, ...others] = ids.filter(Boolean)
    .map((id) => timeline.querySelector(`[data-id="${CSS.escape(id)}"]`)).filter(Boolean);
  for (const other of others) other.remove();
  if (existing) {
    existing.replaceWith(node);
  } else if (prepend) {
    timeline.prepend(node);
    document.getElementById("timeline-empty")?.remove();
    const status = document.getElementById("live-status");
    const what = node.querySelector("h3")?.textContent ?? "";
    if (status) status.textContent = `${status.dataset.label ?? ""} ${what}`.trim();
  }
  node.classList.add("highlight");
  setTimeout(() => node.classList.remove("highlight"), 4000);
}

const more = document.getElementById("more");
if (timeline && more) {
  let loading = false;
  async function loadMore() {
    if (loading || !more.dataset.cursor) return;
    loading = true;
    const filters = timeline.dataset.filters ? `&${timeline.dataset.filters}` : "";
    try {
      const { html, response } = await fetchHTML(
        `/customers/${customerId}/items?cursor=${encodeURIComponent(more.dataset.cursor)}${filters}`);
      // (pressed with the keyboard: the focus goes on to the first entry loaded, where the
      // reading goes on -- not to the top of the page when the link goes away)
      const pressed = document.activeElement === more;
      let first = null;
      for (const node of [...fragment(html).children]) {
        if (!timeline.querySelector(`[data-id="${node.dataset.id}"]`)) {
          timeline.append(node);
          first ??= node;
        }
      }
      if (pressed && first) {
        first.tabIndex = -1;
        first.focus();
      }
      const next = response.headers.get("X-Next-Cursor");
      if (next) {
        more.dataset.cursor = next;
        more.href = more.href.replace(/cursor=[^&]*/, `cursor=${encodeURIComponent(next)}`);
      } else {
        more.remove();
      }
    } finally {
      loading = false;
    }
  }
  more.addEventListener("click", (event) => { event.preventDefault(); loadMore(); });
  new IntersectionObserver((seen) => { if (seen.some((e) => e.isIntersecting)) loadMore(); },
    { rootMargin: "400px" }).observe(more);
}

// ---------------------------------------------------------------- live events + caller banner
const banner = document.getElementById("caller-banner");

// an outbound call (an agent dialling out) rings nobody here: no caller banner for it
async function ringing(data) {
  if (!banner || data.direction === "out") return;
  const number = data.normalised || data.number || "";
  const params = new URLSearchParams({ number, call: data.call_id || "", entry: data.entry_id || "" });
  const { html } = await fetchHTML(`/calls/banner?${params}`);
  banner.querySelector(`[data-call="${CSS.escape(data.call_id || "")}"]`)?.remove();
  const call = fragment(html);
  const said = callSummary(call.querySelector(".call"));
  banner.prepend(call);
  banner.hidden = false;
  announce(said);
  // a console in a tab behind others: the tab itself says that the phone rings
  pageTitle ??= document.title;
  document.title = `☎ ${said} · ${pageTitle}`;
}
let pageTitle = null;
if (banner) {
  new MutationObserver(() => {
    if (banner.hidden && pageTitle !== null) { document.title = pageTitle; pageTitle = null; }
  }).observe(banner, { attributes: true, attributeFilter: ["hidden"] });
}

// "Klingelt: Erika Mustermann (+491711234567)" -- the line a screen reader says
function callSummary(call) {
  if (!call) return "";
  const state = call.querySelector(".call-state")?.textContent.trim() ?? "";
  const number = call.querySelector(".call-state")?.parentElement.querySelector("strong")?.textContent.trim() ?? "";
  const names = [...call.querySelectorAll("h2")].map((h) => (h.querySelector("a") ?? h).textContent.trim())
    .filter((name) => name && name !== number);  // (a caller created from the number is named by it)
  if (!names.length) return `${state}: ${number}`;
  return `${state}: ${names.join(", ")}${number ? ` (${number})` : ""}`;
}

function announce(text) {
  const region = document.getElementById("call-announce");
  if (!region || !text) return;
  region.textContent = "";  // (the same words again, for a second call, are said again)
  setTimeout(() => { region.textContent = text; }, 100);
}

function callEnded(data) {
  const block = banner?.querySelector(`[data-call="${CSS.escape(data.call_id || "")}"]`);
  if (!block) return;
  block.classList.add("ended");
  const state = block.querySelector(".call-state");
  if (state?.dataset.ended) state.textContent = state.dataset.ended;  // no longer "ringing"
  setTimeout(() => { block.remove(); if (!banner.children.length) banner.hidden = true; }, 30000);
}

// The banner stays on top while the page scrolls; the compose column beside the history
// (sticky too) starts below it, so a ringing phone does not cover what is being written.
if (banner) {
  const below = () => {
    const sticky = !banner.hidden && getComputedStyle(banner).position === "sticky";
    document.documentElement.style.setProperty("--banner-h", `${sticky ? banner.offsetHeight : 0}px`);
  };
  new ResizeObserver(below).observe(banner);
  new MutationObserver(below).observe(banner, { attributes: true, attributeFilter: ["hidden"] });
  window.addEventListener("resize", below);
}

banner?.addEventListener("click", (event) => {
  const button = event.target.closest("[data-dismiss-call]");
  if (!button) return;
  button.closest(".call")?.remove();
  if (!banner.children.length) banner.hidden = true;
});
// Escape puts the newest call away (not while writing a note or a new caller's name)
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || !banner || banner.hidden) return;
  if (event.target.closest?.("textarea, [contenteditable], #caller-banner input")) return;
  banner.querySelector(".call")?.remove();
  if (!banner.children.length) banner.hidden = true;
});

// The sign-in ended (signed out in another tab, "sign out everywhere", the session ran
// out): the page stops listening, callers' details leave the screen, and it says so.
function signedOut() {
  document.documentElement.dataset.live = "ended";
  if (banner) { banner.replaceChildren(); banner.hidden = true; }
  document.getElementById("call-announce")?.replaceChildren();
  if (document.getElementById("signed-out")) return;
  const notice = document.createElement("p");
  notice.id = "signed-out";
  notice.className = "notice error";
  notice.setAttribute("role", "alert");
  const link = document.createElement("a");
  link.href = `/signin?next=${encodeURIComponent(location.pathname + location.search)}`;
  link.textContent = document.body.dataset.signinAgain || "Sign in again";
  notice.append(`${document.body.dataset.signedOut || "You are signed out."} `, link);
  if (document.getElementById("compose-form")) {
    // what the form holds (files cannot be kept in a draft) stays on this page: sign in
    // in a new tab when there is something, come back, save here
    const keep = document.createElement("span");
    keep.textContent = ` ${document.body.dataset.keepHere ?? ""}`;
    notice.append(keep);
    link.addEventListener("click", () => {
      if (composeHolds()) { link.target = "_blank"; link.rel = "noopener"; } else { link.removeAttribute("target"); }
    });
  }
  document.getElementById("main")?.prepend(notice);
}

function composeHolds() {
  const compose = document.getElementById("compose-form");
  return Boolean(compose && (compose.subject.value.trim() || compose.body.value.trim()
    || compose.querySelector("#c-files")?.files.length));
}

// A page opened under an earlier sign-in (the agent signed in again in another tab after
// theirs ended) takes the new sign-in's CSRF token: its forms work again, nothing typed or
// picked is lost, and it listens again.
async function renewSession() {
  try {
    const response = await fetch("/settings/session", { credentials: "same-origin" });
    if (!response.ok || response.redirected) return false;
    const fresh = (await response.json()).csrf;
    if (!fresh) return false;
    csrf = fresh;
    document.querySelector('meta[name="csrf-token"]')?.setAttribute("content", csrf);
    for (const input of document.querySelectorAll('input[name="csrf"]')) input.value = csrf;
    for (const other of document.querySelectorAll("form[action*='csrf=']")) {
      const url = new URL(other.action, location.href);
      url.searchParams.set("csrf", csrf);
      other.action = url.pathname + url.search;
    }
    if (document.documentElement.dataset.live === "ended") {
      document.getElementById("signed-out")?.remove();
      connect();
    }
    return true;
  } catch {
    return false;
  }
}
// back in this tab after signing in elsewhere: the page picks the sign-in up
const resume = () => {
  if (document.visibilityState === "visible" && document.documentElement.dataset.live === "ended") renewSession();
};
window.addEventListener("focus", resume);
document.addEventListener("visibilitychange", resume);

// A filtered page, or one further back, takes no live items (they may not belong there);
// a new entry of this customer is announced instead, with a link to the newest.
function newerElsewhere() {
  const status = document.getElementById("live-status");
  if (!status || status.querySelector("a")) return;
  const link = document.createElement("a");
  link.href = `/customers/${encodeURIComponent(customerId)}`;
  link.textContent = status.dataset.newest ?? "";
  status.replaceChildren(`${status.dataset.label ?? ""} `, link);
}

// lists that follow the timeline (customers waiting for a reply): reloaded, at most once a
// second, when an entry is written or changed (the server answers many pages from one read)
let listTimer = null;
function refreshLists() {
  if (listTimer) return;
  listTimer = setTimeout(async () => {
    listTimer = null;
    for (const list of document.querySelectorAll("[data-live-list]")) {
      try {
        const { html, response } = await fetchHTML(list.dataset.liveList);
        const fresh = response.ok ? fragment(html).firstElementChild : null;
        if (fresh && list.isConnected && !list.contains(document.activeElement)) list.replaceWith(fresh);
      } catch { /* the next event tries again */ }
    }
  }, 1000);
}

let events = null;
function connect() {
  events?.close();
  const source = new EventSource("/api/v1/events");
  events = source;
  const parse = (event) => { try { return JSON.parse(event.data); } catch { return {}; } };
  source.addEventListener("call.ringing", (event) => ringing(parse(event)).catch(() => {}));
  source.addEventListener("call.ended", (event) => callEnded(parse(event)));
  const onEntry = (event) => {
    const data = parse(event);
    const shown = timeline && data.id
      ? timeline.querySelector(`[data-id="${CSS.escape(data.id)}"]`) : null;
    if (shown && data.customer_id && data.customer_id !== customerId) {
      shown.remove();  // moved to another customer (by anyone, in any tab)
      return;
    }
    if (timeline && data.customer_id === customerId && timeline.dataset.live === "on") {
      showEntry(data.id, { prepend: event.type === "entry.created" }).catch(() => {});
    } else if (timeline && data.customer_id === customerId && event.type === "entry.created"
               && data.channel !== "notification") {
      newerElsewhere();  // a filtered or older page: say that something new came in
    }
  };
  source.addEventListener("entry.created", onEntry);
  source.addEventListener("entry.updated", onEntry);
  const onListChange = (event) => {
    if (parse(event).channel !== "notification") refreshLists();  // bookkeeping answers nobody
  };
  source.addEventListener("entry.created", onListChange);
  source.addEventListener("entry.updated", onListChange);
  // (data-live on <html>: "connected" while live updates arrive)
  source.onopen = () => { document.documentElement.dataset.live = "connected"; };
  source.addEventListener("session.ended", () => { source.close(); signedOut(); });
  source.onerror = () => {
    document.documentElement.dataset.live = "reconnecting";
    if (source.readyState === EventSource.CLOSED && events === source) setTimeout(connect, 3000);
  };
}
connect();

// ---------------------------------------------------------------- compose
const form = document.getElementById("compose-form");
if (form) {
  const presets = JSON.parse(form.dataset.presets || "{}");
  const warnings = document.getElementById("compose-warnings");
  const confirmRow = document.getElementById("confirm-row");
  const confirmBox = document.getElementById("c-confirm");
  const status = document.getElementById("compose-status");
  const notify = document.getElementById("c-notify");
  const presetText = document.getElementById("preset-source");
  const texts = JSON.parse(document.getElementById("compose-texts")?.textContent || "{}");
  let touched = false;

  const kind = () => form.querySelector('input[name="kind"]:checked')?.value ?? "note";
  const visibility = () => form.querySelector('input[name="visibility"]:checked')?.value ?? "published";
  // a note in the thread of an internal entry stays internal whatever its kind; in any other
  // thread each kind starts from its own preset, as outside one
  const parentInternal = form.dataset.parentInternal === "true";

  function applyKind() {
    const k = kind();
    form.querySelector(".reply-only").hidden = k !== "reply";
    const picked = form.querySelector("#c-files")?.files.length ?? 0;
    form.querySelector(".doc-only").hidden = k !== "document" && !picked;  // files stay shown
    form.querySelector(".not-reply").hidden = k === "reply";
    const p = presets[k];
    if (p && !touched && k !== "reply" && !parentInternal) {
      form.querySelector(`#vis-${p.visibility}`).checked = true;
      notify.checked = p.notify;
      presetText.textContent = texts.presetFrom?.replace("{source}", texts.sources?.[p.notify_source] ?? p.notify_source) ?? "";
    } else if (touched && k !== "reply") {
      presetText.textContent = texts.ownChoice ?? "";  // no longer what a preset says
    }
    notify.disabled = visibility() === "internal";
    if (notify.disabled) notify.checked = false;
    updateRecipients();
    scheduleCheck();
  }
  form.addEventListener("change", (event) => {
    if (event.target.name === "visibility" || event.target.name === "notify") touched = true;
    if (["kind", "visibility", "reply_via", "notify"].includes(event.target.name)) applyKind();
  });

  async function updateRecipients() {
    const box = document.getElementById("recipients");
    const publishing = kind() === "reply" || visibility() === "published";
    box.hidden = !publishing || (kind() !== "reply" && !notify.checked);
    if (box.hidden) return;
    const via = kind() === "reply" ? form.querySelector("#reply-via").value : "";
    const response = await fetch(`/customers/${form.dataset.customer}/recipients?reply_via=${via}`);
    if (!response.ok) return;
    const data = await response.json();
    const unread = document.getElementById("recipients-unread");
    if (unread) unread.hidden = !data.unread;
    const waits = document.getElementById("recipients-waits");
    if (waits) { waits.textContent = data.waits ?? ""; waits.hidden = !data.waits; }
    const list = box.querySelector("p:not(#recipients-unread):not(#recipients-waits)") ?? box.insertBefore(document.createElement("p"), waits ?? unread);
    list.className = data.suppressed ? "notice warn" : "";
    list.textContent = data.suppressed
      ? `${texts.nobody}: ${data.suppressed}`
      : `${texts.goesTo} ${data.routes.map((r) => texts.via?.[r.channel] + (r.address ? ` (${r.address})` : "")).join(`; ${texts.fallback}: `)}`;
  }

  let timer = null;
  function scheduleCheck() {
    clearTimeout(timer);
    timer = setTimeout(check, 350);
  }
  async function check() {
    const publishing = kind() === "reply" || visibility() === "published";
    if (!publishing) { showWarnings({}); return; }
    const files = [...(form.querySelector("#c-files")?.files ?? [])].map((f) => f.name);
    const text = [form.subject.value, form.body.value, ...files].join("\n");
    if (!text.trim()) { showWarnings({}); return; }
    const response = await fetch("/api/v1/tone/check", {
      method: "POST", headers: headers({ "Content-Type": "application/json" }),
      body: JSON.stringify({ text, customer_id: form.dataset.customer }),
    });
    if (!response.ok) return;
    showWarnings(await response.json());
  }
  function showWarnings(data) {
    const items = [
      ...(data.hits ?? []).map((h) => `${texts.toneHit}: „${h.text}“`),
      ...(data.disclosure ?? []).map((h) => `${texts.disclosure?.[h.kind] ?? h.kind}: „${h.text}“`),
    ];
    warnings.replaceChildren();
    confirmRow.hidden = !items.length;  // "publish anyway" belongs to a warning shown
    if (!items.length) { confirmBox.checked = false; return; }
    const box = document.createElement("div");
    box.className = "notice error";
    box.setAttribute("role", "alert");
    const ul = document.createElement("ul");
    for (const text of items) {
      const li = document.createElement("li");
      li.textContent = text;
      ul.append(li);
    }
    const hint = document.createElement("p");
    hint.textContent = texts.confirmHint;
    box.append(ul, hint);
    if (kind() !== "reply" && form.querySelector("#vis-internal")) {
      // the safe way out in one step: the same entry, for the office only (never checked)
      const internal = document.createElement("button");
      internal.type = "button";
      internal.id = "save-internal";
      internal.textContent = texts.saveInternal ?? "";
      internal.addEventListener("click", () => {
        form.querySelector("#vis-internal").checked = true;
        touched = true;
        applyKind();
        form.requestSubmit();
      });
      box.append(internal);
    }
    warnings.append(box);
  }
  form.subject.addEventListener("input", scheduleCheck);
  form.body.addEventListener("input", scheduleCheck);

  // Files over the upload limit are named when they are picked (dropped, pasted), not after
  // a long upload the server then refuses; the entry is not sent until they fit.
  function sizeOk() {
    const picker = form.querySelector("#c-files");
    const error = document.getElementById("c-files-error");
    const most = Number(form.dataset.maxBytes);
    if (!picker || !error || !most) return true;
    let total = new Blob([form.subject.value, form.body.value]).size;
    for (const file of picker.files) total += file.size;
    const ok = total <= most;
    const limit = most >= 1048576 ? `${Math.floor(most / 1048576)} MB` : form.dataset.maxSize ?? "";
    const said = (texts.tooLarge ?? "").replace("{size}", limit);
    error.hidden = ok;
    error.textContent = ok ? "" : said;
    if (ok) picker.removeAttribute("aria-invalid"); else picker.setAttribute("aria-invalid", "true");
    if (!ok) status.textContent = said;  // (the status line is what is announced)
    else if (status.textContent === said) status.textContent = "";
    return ok;
  }
  form.querySelector("#c-files")?.addEventListener("change", sizeOk);

  // Files pasted (a screenshot: Ctrl+V) or dropped onto the form become the document's
  // files, as in mail programs; pasted text stays text.
  function addFiles(list) {
    const picker = form.querySelector("#c-files");
    const files = [...(list ?? [])].filter((f) => f.size > 0 || f.type);
    if (!picker || files.length === 0) return false;
    const all = new DataTransfer();
    for (const file of picker.files) all.items.add(file);
    for (const file of files) {
      const pasted = file.name === "image.png" || !file.name;  // what browsers call a pasted picture
      const now = new Date();  // the agent's own clock time, as their screenshot tool names it
      const two = (n) => String(n).padStart(2, "0");
      const stamp = `${now.getFullYear()}-${two(now.getMonth() + 1)}-${two(now.getDate())} ${two(now.getHours())}-${two(now.getMinutes())}-${two(now.getSeconds())}`;
      all.items.add(pasted ? new File([file], `${texts.pastedImage ?? "Screenshot"} ${stamp}.${(file.type.split("/")[1] || "png")}`, { type: file.type }) : file);
    }
    picker.files = all.files;
    const documentKind = form.querySelector("#kind-document");
    if (documentKind && !documentKind.checked) {
      documentKind.checked = true;
      applyKind();
    }
    picker.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }
  form.addEventListener("paste", (event) => {
    if (addFiles(event.clipboardData?.files)) event.preventDefault();
  });
  // (anywhere on the customer's page: a file let go beside the form would otherwise be
  // opened by the browser, leaving the console)
  document.addEventListener("dragover", (event) => {
    if ([...(event.dataTransfer?.types ?? [])].includes("Files")) event.preventDefault();
  });
  document.addEventListener("drop", (event) => {
    if (addFiles(event.dataTransfer?.files)) event.preventDefault();
  });

  // A draft survives a reload or a click away and back, in this tab only (sessionStorage
  // ends with the tab: nothing about a customer stays behind on a shared computer); the
  // browser asks before a page with unsaved text is left.
  const parentId = form.querySelector('input[name="in_reply_to"]')?.value ?? "";
  const draftKey = `chronik-draft:${form.dataset.customer}:${parentId}`;
  // (with how it was meant: kind, visibility, notify, complaint -- restored as typed, an
  // internal note must never come back as a published one)
  function saveDraft() {
    try {
      if (form.subject.value || form.body.value) {
        sessionStorage.setItem(draftKey, JSON.stringify({
          subject: form.subject.value, body: form.body.value, kind: kind(),
          visibility: visibility(), notify: notify.checked,
          complaint: form.querySelector("#c-complaint").checked,
          replyVia: form.querySelector("#reply-via")?.value,
          call: form.querySelector('input[name="call_entry_id"]')?.value ?? "",
        }));
      } else {
        sessionStorage.removeItem(draftKey);
      }
    } catch (error) { /* storage off or full: no draft */ }
  }
  // what the agent added to the form as rendered ("Re: …" of a reply is the page's, not theirs)
  const untouched = () => form.subject.value === form.subject.defaultValue
    && form.body.value === form.body.defaultValue;
  try {
    const draft = JSON.parse(sessionStorage.getItem(draftKey) || "null");
    if (draft && untouched()) {
      form.subject.value = draft.subject ?? "";
      form.body.value = draft.body ?? "";
      const radio = (name, value) => form.querySelector(`input[name="${name}"][value="${CSS.escape(String(value))}"]`);
      if (radio("kind", draft.kind)) radio("kind", draft.kind).checked = true;
      if (radio("visibility", draft.visibility)) {
        radio("visibility", draft.visibility).checked = true;
        notify.checked = Boolean(draft.notify);
        touched = true;  // the office's preset does not overwrite what the agent chose
      }
      form.querySelector("#c-complaint").checked = Boolean(draft.complaint);
      const via = form.querySelector("#reply-via");
      if (via && draft.replyVia && [...via.options].some((o) => o.value === draft.replyVia)) via.value = draft.replyVia;
      if (draft.call && !form.querySelector('input[name="call_entry_id"]')) {
        // a phone note begun against a call (from the caller banner) stays that call's,
        // also when the customer is opened again another way
        const call = document.createElement("input");
        Object.assign(call, { type: "hidden", name: "call_entry_id", value: draft.call });
        const about = document.createElement("p");
        about.className = "notice";
        about.id = "draft-call";
        about.textContent = texts.aboutDraftCall ?? "";
        form.prepend(about, call);
      }
      if (status) status.textContent = texts.draftRestored ?? "";
    }
  } catch (error) { /* a damaged draft is dropped */ }
  form.subject.addEventListener("input", saveDraft);
  form.body.addEventListener("input", saveDraft);
  form.addEventListener("change", saveDraft);
  window.addEventListener("beforeunload", (event) => {
    const picked = form.querySelector("#c-files")?.files.length;
    if ((!untouched() && (form.subject.value.trim() || form.body.value.trim())) || picked) {
      event.preventDefault();
      event.returnValue = "";
    }
  });

  subjectFormKeys(form);  // Ctrl+Enter saves; Enter in the subject goes on to the text

  let saving = false;  // a second click or Ctrl+Enter while saving writes nothing twice
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (saving) return;
    // where the keyboard was: the button being disabled meanwhile drops the focus, which
    // then comes back here instead of to the top of the page
    const returnFocus = document.activeElement;
    const k = kind();
    const data = new FormData();
    data.append("kind", k);
    data.append("subject", form.subject.value);
    data.append("body", form.body.value);
    const parent = form.querySelector('input[name="in_reply_to"]');
    if (parent) data.append("in_reply_to", parent.value);
    const call = form.querySelector('input[name="call_entry_id"]');
    if (call && k === "phone_note") data.append("call_entry_id", call.value);
    if (k === "reply") {
      data.append("reply_via", form.querySelector("#reply-via").value);
    } else {
      data.append("visibility", visibility());
      data.append("notify", String(visibility() === "published" && notify.checked));
    }
    if (form.querySelector("#c-complaint").checked) data.append("tags", "complaint");
    data.append("confirm", String(confirmBox.checked));
    for (const file of form.querySelector("#c-files")?.files ?? []) data.append("files", file, file.name);
    if (!form.subject.value.trim() && !form.body.value.trim() && !data.has("files")) {
      status.textContent = texts.empty ?? "";  // (asked here, in the agent's language)
      form.body.focus();
      return;
    }
    if (!sizeOk()) {
      form.querySelector("#c-files")?.focus();
      return;
    }
    const submit = document.getElementById("compose-submit");
    const sent = [form.subject.value, form.body.value];
    saving = true;
    submit.disabled = true;
    status.textContent = texts.saving ?? "…";
    const send = () => fetch(`/api/v1/customers/${form.dataset.customer}/entries`, {
      method: "POST", headers: headers(), body: data,
    });
    try {
      let response = await send();
      let body = await response.json().catch(() => ({}));
      if (response.status === 403 && body.error?.code === "csrf" && await renewSession()) {
        response = await send();  // signed in again elsewhere meanwhile: the same entry, once
        body = await response.json().catch(() => ({}));
      }
      if (response.status === 201) {
        // what was typed while it saved (the next note, an afterthought) stays in the form
        if (form.subject.value === sent[0] && form.body.value === sent[1]) {
          form.subject.value = "";
          form.body.value = "";
        }
        form.querySelector("#c-complaint").checked = false;  // the next entry is no complaint
        saveDraft();
        const files = form.querySelector("#c-files");
        if (files) files.value = "";
        sizeOk();
        applyKind();
        confirmBox.checked = false;
        confirmRow.hidden = true;
        warnings.replaceChildren();
        status.textContent = texts.saved;
        if (timeline) await showEntry(body.id);
      } else if (response.status === 401) {
        signedOut();  // the draft stays (this tab's storage) for after signing in again
        status.textContent = `${document.body.dataset.signedOut ?? ""} ${document.body.dataset.keepHere ?? ""}`;
      } else if (response.status === 409) {
        showWarnings(body.error?.details ?? {});
        confirmRow.hidden = false;
        confirmBox.focus();
        status.textContent = texts.checkWarnings ?? "";
      } else if (response.status === 413) {
        const limit = body.error?.details?.limit_bytes;
        status.textContent = (texts.tooLarge ?? "").replace("{size}", limit ? `${Math.floor(limit / 1048576)} MB` : "");
      } else {
        status.textContent = `${texts.error}: ${body.error?.message ?? response.status}`;
      }
    } catch (error) {
      status.textContent = `${texts.error}: ${error}`;
    } finally {
      saving = false;
      submit.disabled = false;
      const lost = !document.activeElement || document.activeElement === document.body;
      if (lost) (returnFocus instanceof HTMLElement && returnFocus.isConnected && returnFocus !== document.body ? returnFocus : form.body).focus();
    }
  });
  applyKind();
}

// Times on these pages are in the agent's time zone (/settings; else the office's). A
// device set to another one (working from abroad) gets a line saying so, with the way to
// change it: a call-back promised for "14:00" must not be an hour off. "Keep it" keeps
// quiet for this tab.
function zoneNote() {
  const shown = document.body.dataset.timezone;
  let device = "";
  try { device = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch { return; }
  if (!shown || !device || location.pathname === "/settings") return;
  try { if (sessionStorage.getItem("chronik-zone-kept") === `${shown}|${device}`) return; } catch { /* storage off */ }
  const now = new Date();
  const clock = (zone) => new Intl.DateTimeFormat(lang === "de" ? "de-DE" : "en-GB", {
    timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(now);
  let here = "", there = "";
  try { here = clock(shown); there = clock(device); } catch { return; }
  if (here === there) return;  // another name for the same clock (Vienna, Berlin)
  const data = document.body.dataset;
  const note = document.createElement("section");  // (a landmark of its own, beside main)
  note.id = "zone-note";
  note.className = "notice warn";
  note.setAttribute("aria-label", data.zoneTitle ?? "");
  note.textContent = `${(data.zoneDiffers ?? "").replace("{shown}", here).replace("{browser}", device).replace("{local}", there)} `;
  const change = document.createElement("a");
  change.href = `/settings?timezone=${encodeURIComponent(device)}#st-tz`;
  change.textContent = data.zoneChange ?? "";
  const keep = document.createElement("button");
  keep.type = "button";
  keep.className = "link";
  keep.textContent = data.zoneKeep ?? "";
  keep.addEventListener("click", () => {
    try { sessionStorage.setItem("chronik-zone-kept", `${shown}|${device}`); } catch { /* storage off */ }
    note.remove();
  });
  note.append(change, " · ", keep);
  document.getElementById("main")?.before(note);  // (the skip link still leads past it)
}
zoneNote();

// "/" jumps to the search box (not while typing somewhere).
document.addEventListener("keydown", (event) => {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = event.target;
  if (target.closest("input, textarea, select, [contenteditable]")) return;
  event.preventDefault();
  document.getElementById("quickfind-q")?.focus();
});

// Signing out drops this tab's drafts.
for (const out of document.querySelectorAll('form[action="/signout"]')) {
  out.addEventListener("submit", () => {
    try {
      for (const key of Object.keys(sessionStorage)) {
        if (key.startsWith("chronik-draft:")) sessionStorage.removeItem(key);
      }
    } catch (error) { /* storage off */ }
  });
}

// Printing shows folded text too (quoted history, an e-mail's plain text): every closed
// <details> opens for the print and closes again after it.
let openedForPrint = [];
window.addEventListener("beforeprint", () => {
  openedForPrint = [...document.querySelectorAll("details:not([open])")];
  for (const details of openedForPrint) details.open = true;
});
window.addEventListener("afterprint", () => {
  for (const details of openedForPrint) details.open = false;
  openedForPrint = [];
});

