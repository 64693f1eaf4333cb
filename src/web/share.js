// The share page's script. On load: take the key from the URL fragment (then remove it from the address
// bar and history), and ask the server, without counting a view, whether the share can still be opened
// and needs a passphrase. Only a click on Reveal opens it (POST …/open counts the view); the envelope is
// decrypted here with src/share/envelope.ts itself (served as assets/envelope.js). Nothing but this
// page's own origin is ever contacted. No innerHTML anywhere: text goes in with textContent.

import { fromBase64url, openShare } from "./envelope.js";

const $ = (id) => document.getElementById(id);
const form = $("reveal-form");
const reveal = $("reveal");
const passRow = $("passphrase-row");
const pass = $("passphrase");
const statusLine = $("status");
const result = $("result");
const valueBox = $("value");
const copy = $("copy");
const intro = $("intro");

const id = decodeURIComponent(location.pathname.slice(location.pathname.lastIndexOf("/") + 1));
/** The key from the fragment, which is then removed: it must not linger in the address bar, history or a bookmark. */
function takeKey() {
  const fragment = location.hash.slice(1);
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  return fragment;
}
let key = takeKey();
const api = new URL(`../v1/shares/${encodeURIComponent(id)}`, location.href).href;

const MESSAGES = {
  bad_key: "This link is incomplete or corrupted: the key after the # is missing or damaged. Copy the whole link and open it again. Nothing was revealed and no view was used.",
  wrong_key: "This link's key does not belong to this secret: the link was altered or mixed up with another. The view was used; ask the sender for a new link.",
  bad_envelope: "The stored secret is not in a format this page can read. Ask the sender for a new link.",
  tampered: "The stored secret was altered after it was sent, so it is not shown. Ask the sender for a new link.",
  wrong_passphrase: "Wrong passphrase. Try again: the secret stays on this page until you close it.",
  passphrase_required: "Enter the passphrase the sender gave you.",
  not_found: "This link is unknown: it may be mistyped, or it expired and was removed. Ask the sender for a new one.",
  consumed: "This secret was already opened, so it is gone. If it was not you who opened it, tell the sender: someone else may have the link.",
  expired: "This link expired before it was opened. Ask the sender for a new one.",
  unavailable: "The server cannot reach its storage right now. Nothing was revealed; try again in a moment.",
  network: "The server could not be reached. Nothing was revealed; check your connection and try again.",
};

let envelope; // the ciphertext, once opened, kept for passphrase retries (the view is already counted)
let needsPassphrase = false;
let viewsLeft = 0;

function say(text, kind = "") {
  statusLine.textContent = text;
  statusLine.className = kind;
}

function serverMessage(status, body) {
  const code = body?.error?.code;
  if (status === 410 && (code === "consumed" || code === "expired")) return MESSAGES[code];
  if (status === 404) return MESSAGES.not_found;
  if (status === 503) return MESSAGES.unavailable;
  return `The server refused (${status}${code ? ` ${code}` : ""}). Nothing was revealed.`;
}

async function call(url, init) {
  const response = await fetch(url, { cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer", ...init });
  const body = await response.json().catch(() => ({}));
  return { status: response.status, ok: response.ok, body };
}

function askPassphrase() {
  passRow.hidden = false;
  pass.required = true;
}

function keyIsWellFormed(text) {
  const bytes = fromBase64url(text);
  return bytes !== undefined && bytes.length === 32;
}

async function checkShare() {
  if (!keyIsWellFormed(key)) {
    say(MESSAGES.bad_key, "error");
    return;
  }
  let answer;
  try {
    answer = await call(api, { method: "GET" });
  } catch {
    say(MESSAGES.network, "error");
    return;
  }
  if (!answer.ok) {
    say(serverMessage(answer.status, answer.body), "error");
    return;
  }
  needsPassphrase = answer.body.passphrase === true;
  if (needsPassphrase) askPassphrase();
  reveal.disabled = false;
}

function show(plain) {
  valueBox.value = new TextDecoder().decode(plain);
  form.hidden = true;
  intro.hidden = true;
  result.hidden = false;
  valueBox.focus();
  valueBox.select();
}

async function onReveal(event) {
  event.preventDefault();
  if (reveal.disabled) return;
  if (needsPassphrase && pass.value === "") {
    say(MESSAGES.passphrase_required, "error");
    pass.focus();
    return;
  }
  reveal.disabled = true;
  if (envelope === undefined) {
    say("Opening…");
    let answer;
    try {
      answer = await call(`${api}/open`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    } catch {
      say(MESSAGES.network, "error");
      reveal.disabled = false;
      return;
    }
    if (!answer.ok) {
      say(serverMessage(answer.status, answer.body), "error");
      if (answer.status === 503) reveal.disabled = false;
      return;
    }
    envelope = answer.body.ciphertext;
    viewsLeft = answer.body.views_left;
    needsPassphrase = answer.body.passphrase === true;
    if (needsPassphrase && pass.value === "") {
      askPassphrase();
      reveal.textContent = "Decrypt";
      reveal.disabled = false;
      say(`${MESSAGES.passphrase_required} The secret is already fetched: keep this page open.`, "error");
      pass.focus();
      return;
    }
  }
  say("Decrypting…");
  try {
    const plain = await openShare(envelope, key, needsPassphrase ? pass.value : undefined);
    envelope = undefined;
    show(plain);
    const more = viewsLeft > 0 ? ` The link can still be opened ${viewsLeft} more time${viewsLeft === 1 ? "" : "s"}.` : " The link is now used up.";
    say(`Decrypted in your browser.${more}`, "ok");
  } catch (error) {
    const code = error?.code;
    if (code === "wrong_passphrase" || code === "passphrase_required") {
      reveal.textContent = "Decrypt";
      reveal.disabled = false;
      say(MESSAGES[code], "error");
      pass.select();
      return;
    }
    envelope = undefined;
    say(MESSAGES[code] ?? "This secret could not be decrypted.", "error");
  }
}

async function onCopy() {
  try {
    await navigator.clipboard.writeText(valueBox.value);
  } catch {
    valueBox.select();
    document.execCommand("copy");
  }
  say("Copied to the clipboard.", "ok");
}

// The link pasted again into the same tab only changes the fragment: the page stays, so take the new key.
window.addEventListener("hashchange", () => {
  if (!location.hash || envelope !== undefined || !result.hidden) return;
  key = takeKey();
  say("");
  void checkShare();
});
form.addEventListener("submit", onReveal);
copy.addEventListener("click", () => void onCopy());
void checkShare();
