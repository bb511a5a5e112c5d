// The rider's app: each screen is a section of the shell (api/templates/app/shell.html), shown
// by the address's hash. Every string comes from the shell's data block (api/messages/app.py);
// everything shown from the API is set as text, never as HTML.
import * as api from "./api.js";
import * as store from "./store.js";
import { newPhoneKey, publicKeyBytes, signTicket } from "./ticket.js";
import { drawQr } from "./qr.js";

const STRINGS = JSON.parse(document.getElementById("strings").textContent);
const LANG = STRINGS.lang || "vi";
const LANGUAGES = ["vi", "en"];
const LANG_KEY = "rider-app-lang";
const RESIGN_SECONDS = 15; // well within ticket.js's REFRESH_SECONDS (30): a validator takes 45 s
const RENEW_AFTER_MS = 3 * 3600 * 1000; // a credential lasts 24 h: renew when online and older

export function t(key, values = {}) {
  const text = STRINGS[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

const $ = (id) => document.getElementById(id);
// Where Stripe.js comes from, with the Stripe provider (null with the development provider).
const PAYMENTS = JSON.parse(document.getElementById("payments")?.textContent || "{}");

// -- formatting: as api/pages.py does on the server -------------------------------------------

export function vnd(amount) {
  const sign = amount < 0 ? "−" : "";
  return `${sign}${String(Math.abs(amount)).replace(/\B(?=(\d{3})+(?!\d))/g, ".")} đ`;
}

const HANOI = { timeZone: "Asia/Ho_Chi_Minh", hourCycle: "h23" };
function parts(moment, options) {
  const found = {};
  for (const part of new Intl.DateTimeFormat("en-GB", { ...HANOI, ...options }).formatToParts(
    moment,
  )) {
    found[part.type] = part.value;
  }
  return found;
}
export function dateTime(value) {
  if (!value) return "";
  const p = parts(new Date(value), {
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
  });
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}`;
}
export function day(value) {
  if (!value) return "";
  const [year, month, date] = String(value).slice(0, 10).split("-");
  return `${date}/${month}/${year}`;
}
const cardNumber = (number) => String(number).replace(/(\d{4})(?=\d)/g, "$1 ");

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value == null) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const base64url = (bytes) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
const fromBase64url = (text) =>
  Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (char) => char.charCodeAt(0));

const newKey = () =>
  crypto.randomUUID
    ? crypto.randomUUID()
    : base64url(crypto.getRandomValues(new Uint8Array(16)));

// -- the language -----------------------------------------------------------------------------
// The rider's choice (the header's ?lang= links) is kept on the phone, in localStorage: the app
// opens from the home screen at /app/ with no ?lang=, so when the shell came in another
// language the script asks for its own (?lang=…, same hash) before drawing anything. Each
// language's shell has its own address, so the service worker keeps each one apart and the
// app opens offline in the chosen language. localStorage, not IndexedDB: it is read at once,
// before the first screen; and signing out (which clears IndexedDB) keeps it.

function chosenLanguage() {
  try {
    return localStorage.getItem(LANG_KEY);
  } catch (error) {
    return null; // storage refused (a private window): the browser's language it is
  }
}

// True when the page is leaving for the chosen language's shell.
function keepLanguage() {
  const asked = new URLSearchParams(location.search).get("lang");
  if (LANGUAGES.includes(asked)) {
    try {
      localStorage.setItem(LANG_KEY, asked);
    } catch (error) {
      // not kept: the next opening follows the browser's language
    }
    return false;
  }
  const kept = chosenLanguage();
  if (!asked && LANGUAGES.includes(kept) && kept !== LANG) {
    location.replace(`${location.pathname}?lang=${kept}${location.hash}`);
    return true;
  }
  return false;
}

// The header's language links keep the screen the rider is on.
function languageLinks() {
  for (const link of document.querySelectorAll("header a[lang]")) {
    link.setAttribute("href", `?lang=${link.getAttribute("lang")}${location.hash}`);
  }
}

// -- messages ---------------------------------------------------------------------------------

let carried = null; // a message for the next screen (set just before navigating)

function say(text, next = false) {
  if (next) {
    carried = text;
    return;
  }
  const status = $("status");
  status.textContent = text;
  status.hidden = !text;
}

function problemText(problem) {
  if (!problem || problem.code === "network") return t("error_network");
  const key = `problem_${problem.code}`;
  if (key in STRINGS) return t(key);
  return t("error_generic", { code: problem.code });
}

function fail(problem) {
  const alert = $("alert");
  alert.textContent = typeof problem === "string" ? problem : problemText(problem);
  alert.hidden = false;
  if (problem && problem.code === "network") showOffline();
}

function quiet() {
  $("alert").hidden = true;
  $("alert").textContent = "";
  say("");
}

// Runs a form's or button's action once at a time, with the button busy meanwhile.
function busy(button, action) {
  return async (event) => {
    if (event) event.preventDefault();
    if (button.disabled) return;
    quiet();
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
    try {
      await action(event);
    } catch (problem) {
      if (problem instanceof api.Problem) fail(problem);
      else throw problem;
    } finally {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  };
}

function showOffline() {
  $("offline").hidden = navigator.onLine;
}

// -- the screens ------------------------------------------------------------------------------

const PUBLIC = new Set(["signin", "signup"]);
const SCREENS = {
  signin: () => {},
  signup: () => {
    $("signup-form").hidden = false;
    $("verify-form").hidden = true;
  },
  cards: showCards,
  activate: showActivate,
  topup: showTopup,
  ticket: showTicket,
  journeys: showJourneys,
  manage: showManage,
  more: showMore,
};

let leaving = () => {};

async function route(focus = true) {
  const [name, argument] = location.hash.replace(/^#\/?/, "").split("/");
  let screen = name in SCREENS ? name : api.signedIn() ? "cards" : "signin";
  if (!api.signedIn() && !PUBLIC.has(screen)) screen = "signin";
  if (api.signedIn() && PUBLIC.has(screen)) screen = "cards";
  leaving();
  leaving = () => {};
  quiet();
  if (carried) {
    say(carried);
    carried = null;
  }
  for (const section of document.querySelectorAll("[data-screen]")) {
    section.hidden = section.dataset.screen !== screen;
  }
  for (const link of document.querySelectorAll("[data-signed-in]")) {
    link.hidden = !api.signedIn();
    if (link.getAttribute("href") === `#/${screen}`) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  languageLinks();
  const section = $(`screen-${screen}`);
  const heading = section.querySelector("h1");
  document.title = `${heading.textContent} · ${t("title")}`;
  if (focus) heading.focus();
  try {
    await SCREENS[screen](argument ? decodeURIComponent(argument) : null);
  } catch (problem) {
    if (problem instanceof api.Problem) fail(problem);
    else throw problem;
  }
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// -- signing in and up ------------------------------------------------------------------------

function wireSignIn() {
  const form = $("signin-form");
  form.addEventListener(
    "submit",
    busy($("signin-submit"), async () => {
      const answer = await api.call(
        "POST",
        "/auth/login",
        { phone: form.phone.value.trim(), password: form.password.value },
        { anonymous: true },
      );
      await api.keepTokens(answer);
      form.reset();
      go("#/cards");
    }),
  );
  let registering = null; // the phone and password between the two steps, in memory only
  const signup = $("signup-form");
  signup.addEventListener(
    "submit",
    busy($("signup-submit"), async () => {
      registering = { phone: signup.phone.value.trim(), password: signup.password.value };
      await api.call(
        "POST",
        "/auth/register",
        { ...registering, consent: signup.consent.checked, language: LANG },
        { anonymous: true },
      );
      signup.hidden = true;
      const verify = $("verify-form");
      verify.hidden = false;
      $("verify-sent").textContent = t("code_sent", { phone: registering.phone });
      $("verify-code").focus();
    }),
  );
  const verify = $("verify-form");
  verify.addEventListener(
    "submit",
    busy($("verify-submit"), async () => {
      const answer = await api.call(
        "POST",
        "/auth/verify",
        { ...registering, code: verify.code.value.trim() },
        { anonymous: true },
      );
      await api.keepTokens(answer);
      registering = null;
      signup.reset();
      verify.reset();
      go("#/cards");
    }),
  );
}

// -- cards ------------------------------------------------------------------------------------

let cards = [];

async function loadCards() {
  try {
    cards = (await api.call("GET", "/cards")).data;
    await store.put("cards", cards);
  } catch (problem) {
    if (problem.code !== "network") throw problem;
    cards = (await store.get("cards")) || [];
    showOffline();
  }
  return cards;
}

// A card the rider does not ride with now (inactive_medium), or a virtual card below zero
// (negative_balance), is on the validators' deny list but still the rider's to ride with.
const WAITING = new Set(["inactive_medium", "negative_balance"]);
const waiting = (card) => card.status === "blocked" && WAITING.has(card.blocked_reason);
const usable = (card) => card.status === "active" || waiting(card);
const cardTitle = (card) =>
  `${t(card.kind === "virtual" ? "kind_virtual" : "kind_physical")} ${cardNumber(card.card_number)}`;

function cardItem(card) {
  const badges = [];
  if (!usable(card)) badges.push(el("span", { class: "badge off" }, t(`status_${card.status}`)));
  else if (card.blocked_reason === "negative_balance") {
    badges.push(el("span", { class: "badge off" }, t("below_zero_badge")));
  } else if (card.active) badges.push(el("span", { class: "badge on" }, t("active_badge")));
  else badges.push(el("span", { class: "badge" }, t("inactive_badge")));
  const facts = [
    el("p", { class: "balance" }, `${t("balance")}: `, el("strong", {}, vnd(card.balance))),
  ];
  if (card.pending_total) {
    facts.push(el("p", {}, t("pending_loads", { amount: vnd(card.pending_total) })));
  }
  for (const held of card.passes || []) {
    facts.push(
      el(
        "p",
        {},
        t("pass_until", {
          product: productNames[held.product_id] || held.product_id,
          start: day(held.valid_from),
          until: day(held.valid_until),
        }),
        held.on_card || card.kind === "virtual" ? "" : ` ${t("pass_waiting")}`,
      ),
    );
  }
  const actions = [];
  if (usable(card)) {
    if (!card.active) {
      actions.push(el("a", { class: "button primary", href: `#/activate/${card.card_id}` }, t("ride_with")));
    }
    if (card.kind === "virtual" && card.active) {
      actions.push(el("a", { class: "button primary", href: "#/ticket" }, t("show_ticket")));
    }
    actions.push(el("a", { class: "button", href: `#/topup/${card.card_id}` }, t("topup_button")));
  }
  actions.push(el("a", { class: "button", href: `#/journeys/${card.card_id}` }, t("journeys_button")));
  if (card.kind === "physical" && card.status !== "replaced") {
    actions.push(el("a", { class: "button", href: `#/manage/${card.card_id}` }, t("manage_button")));
  }
  return el(
    "li",
    { class: `card ${card.kind}${card.active ? " riding" : ""}`, "data-card": card.card_number },
    el("h2", {}, cardTitle(card)),
    el("p", {}, badges),
    facts,
    el("div", { class: "actions" }, actions),
  );
}

// A pass on a card names only its product: the names come from the products list (kept on the
// phone), asked for when a card holds a pass not seen before.
let productNames = {};

async function learnProductNames() {
  productNames = { ...((await store.get("product-names")) || {}), ...productNames };
  for (const card of cards) {
    if (!(card.passes || []).some((held) => !(held.product_id in productNames))) continue;
    try {
      const products = (await api.call("GET", `/cards/${card.card_id}/products`)).data;
      rememberProducts(products);
    } catch (problem) {
      if (!(problem instanceof api.Problem)) throw problem;
      return; // offline or refused: the product's id it is
    }
  }
  await store.put("product-names", productNames);
}

function rememberProducts(products) {
  for (const product of products) productNames[product.product_id] = product.name;
}

async function showCards() {
  await loadCards();
  await learnProductNames();
  const list = $("card-list");
  list.replaceChildren(...cards.map(cardItem));
  if (!cards.length) list.append(el("li", {}, t("no_cards")));
  $("no-virtual").hidden = cards.some((card) => card.kind === "virtual");
}

function wireCards() {
  $("make-virtual").addEventListener(
    "click",
    busy($("make-virtual"), async () => {
      const card = await api.call("POST", "/virtual-cards");
      say(t(card.active ? "virtual_made" : "virtual_waiting", { card: cardNumber(card.card_number) }), true);
      route();
    }),
  );
  const form = $("link-form");
  form.addEventListener(
    "submit",
    busy($("link-submit"), async () => {
      const card = await api.call("POST", "/cards", {
        card_number: form.card_number.value.replace(/\s/g, ""),
        check_code: form.check_code.value.trim(),
      });
      form.reset();
      form.closest("details").open = false;
      say(t("card_linked", { card: cardNumber(card.card_number) }), true);
      route();
    }),
  );
}

function cardById(id) {
  const card = cards.find((each) => each.card_id === id);
  if (!card) throw new api.Problem(404, { code: "not_found" });
  return card;
}

let activating = null;

async function showActivate(id) {
  await loadCards();
  const card = cardById(id);
  activating = card;
  const others = cards.filter((each) => each.card_id !== id && usable(each) && each.active);
  const amount = others.reduce((sum, each) => sum + each.balance + (each.pending_total || 0), 0);
  const passes = others.reduce((sum, each) => sum + (each.passes || []).length, 0);
  $("activate-what").textContent = t("activate_what", {
    card: cardTitle(card),
    amount: vnd(amount),
    passes,
    others: others.map(cardTitle).join(", ") || "—",
  });
}

function wireActivate() {
  const button = $("activate-confirm");
  button.addEventListener(
    "click",
    busy(button, async () => {
      const answer = await api.call("POST", `/cards/${activating.card_id}/activate`);
      say(
        t("activated", {
          card: cardTitle(answer.card),
          amount: vnd(answer.moved),
          passes: answer.passes,
        }),
        true,
      );
      go("#/cards");
    }),
  );
}

// -- top up and passes ------------------------------------------------------------------------

let topping = null; // {card, amount, key}: the key is kept while retrying the same payment

function topupStep(step) {
  $("topup-form").hidden = step !== "choose";
  $("topup-confirm").hidden = step !== "confirm";
  $("topup-pay-card").hidden = step !== "card";
  $("topup-done").hidden = step !== "done";
  $("topup-passes").hidden = step === "card";
}

async function showTopup(id) {
  await loadCards();
  const card = cardById(id);
  topping = { card };
  $("topup-card").textContent = cardTitle(card);
  topupStep("choose");
  const list = $("product-list");
  list.replaceChildren();
  const products = (await api.call("GET", `/cards/${id}/products`)).data;
  rememberProducts(products);
  if (!products.length) list.append(el("li", {}, t("no_products")));
  for (const product of products) {
    const item = el(
      "li",
      {},
      el("p", {}, el("strong", {}, product.name), " · ", t("pass_validity", { validity: validity(product.validity) })),
    );
    if (product.one_route) {
      item.append(el("p", { class: "help" }, t("pass_one_route")));
    } else {
      const button = el(
        "button",
        { type: "button" },
        t("buy_pass", { name: product.name, price: vnd(product.price) }),
      );
      const key = newKey();
      button.addEventListener(
        "click",
        busy(button, async () => {
          const paid = await api.call(
            "POST",
            `/cards/${id}/passes`,
            { product_id: product.product_id },
            { headers: { "Idempotency-Key": key } },
          );
          const bought = () => {
            say(t("pass_bought", { name: product.name }), true);
            go("#/cards");
          };
          if (needsCard(paid)) return payByCard(paid, bought);
          const settled = await settle(paid);
          if (settled.status !== "succeeded") return fail(t("payment_failed"));
          bought();
        }),
      );
      item.append(button);
    }
    list.append(item);
  }
}

// The API says how long a pass lasts in English ("1 calendar month", "3 days").
function validity(text) {
  const found = /^(\d+) (day|calendar month)s?$/.exec(text);
  if (!found) return text;
  const key = found[2] === "day" ? "validity_days" : "validity_months";
  return t(key, { count: found[1] });
}

// The development provider answers "succeeded" at once; a real one may take a moment.
async function settle(payment) {
  let found = payment;
  for (let tries = 0; found.status === "pending" && tries < 20; tries += 1) {
    say(t("payment_waiting"));
    await new Promise((resolve) => setTimeout(resolve, 1500));
    found = await api.call("GET", `/payments/${payment.payment_id}`);
  }
  say("");
  return found;
}

function wireTopup() {
  $("topup-form").addEventListener("submit", (event) => {
    event.preventDefault();
    quiet();
    topping.amount = Number(new FormData(event.target).get("amount"));
    topping.key = newKey();
    $("topup-confirm-text").textContent = t("topup_confirm", {
      amount: vnd(topping.amount),
      card: cardNumber(topping.card.card_number),
    });
    topupStep("confirm");
    $("topup-pay").focus();
  });
  $("topup-back").addEventListener("click", () => topupStep("choose"));
  $("topup-pay").addEventListener(
    "click",
    busy($("topup-pay"), async () => {
      const { card, amount, key } = topping;
      const paid = await api.call(
        "POST",
        `/cards/${card.card_id}/topups`,
        { amount },
        { headers: { "Idempotency-Key": key } },
      );
      const done = () => toppedUp(card, amount);
      if (needsCard(paid)) return payByCard(paid, done);
      const settled = await settle(paid);
      if (settled.status !== "succeeded") return fail(t("payment_failed"));
      await done();
    }),
  );
  $("card-back").addEventListener("click", () => {
    quiet();
    paying = null;
    topupStep("choose");
  });
  $("card-pay").addEventListener(
    "click",
    busy($("card-pay"), async () => {
      if (!paying || !cardField) return;
      const { payment, done } = paying;
      let result;
      try {
        result = await cardField.stripe.confirmCardPayment(payment.client_secret, {
          payment_method: { card: cardField.element },
        });
      } catch (error) {
        return fail(t("error_network"));
      }
      // Stripe's own words for what went wrong (declined, wrong number, expired…).
      if (result.error) return fail(result.error.message || t("payment_failed"));
      const settled = await settle(payment);
      if (settled.status !== "succeeded") return fail(t("payment_failed"));
      paying = null;
      await done();
    }),
  );
}

async function toppedUp(card, amount) {
  const now = await api.call("GET", `/cards/${card.card_id}`);
  $("topup-result").textContent =
    now.kind === "virtual"
      ? t("topup_paid", { amount: vnd(amount), balance: vnd(now.balance) })
      : t("topup_paid_chip", {
          amount: vnd(amount),
          balance: vnd(now.balance + now.pending_total),
        });
  topupStep("done");
  $("topup-result").focus();
}

// -- paying by card (Stripe) ------------------------------------------------------------------
// With the Stripe provider a new payment comes back pending with a client_secret: the rider
// types the card into Stripe's Card Element, Stripe.js confirms the payment with Stripe, and
// Stripe's webhook settles it on the server, which settle() polls for. The Card Element, not the
// Payment Element: it is the one localstripe's stand-in Stripe.js (the tests') implements too.

const needsCard = (payment) => payment.status === "pending" && Boolean(payment.client_secret);

let paying = null; // {payment, done}: the payment waiting for the rider's card
let cardField = null; // {key, stripe, element}: one Card Element, mounted once, then reused
let stripeScript = null; // the promise of Stripe.js, loaded the first time a payment needs it

function loadStripe() {
  if (!stripeScript) {
    stripeScript = new Promise((resolve, reject) => {
      if (!PAYMENTS.stripe_js) return reject(new Error("no Stripe.js configured"));
      // A <script src> added from here: the CSP's script-src allows its origin, nothing inline.
      const script = document.createElement("script");
      script.src = PAYMENTS.stripe_js;
      script.addEventListener("load", () =>
        window.Stripe ? resolve(window.Stripe) : reject(new Error("Stripe.js")),
      );
      script.addEventListener("error", () => {
        stripeScript = null; // try again next time (the phone may have been offline)
        script.remove();
        reject(new Error("Stripe.js did not load"));
      });
      document.head.append(script);
    });
  }
  return stripeScript;
}

async function mountCard(publishableKey) {
  if (cardField && cardField.key === publishableKey) {
    if (cardField.element.clear) cardField.element.clear();
    return cardField;
  }
  const Stripe = await loadStripe();
  const stripe = Stripe(publishableKey);
  const element = stripe.elements({ locale: LANG }).create("card", { hidePostalCode: true });
  if (cardField) cardField.element.destroy();
  element.mount($("card-element"));
  cardField = { key: publishableKey, stripe, element };
  return cardField;
}

async function payByCard(payment, done) {
  paying = { payment, done };
  $("card-amount").textContent = t("card_amount", { amount: vnd(payment.amount) });
  $("card-pay").textContent = t("pay_amount", { amount: vnd(payment.amount) });
  topupStep("card");
  try {
    await mountCard(payment.publishable_key);
  } catch (error) {
    paying = null;
    topupStep("choose");
    return fail(t("card_form_unavailable"));
  }
  $("card-amount").focus();
}

// -- the QR ticket ----------------------------------------------------------------------------

async function phoneKey() {
  let pair = await store.get("phone-key");
  if (!pair) {
    pair = await newPhoneKey();
    await store.put("phone-key", pair);
  }
  return pair;
}

async function fetchCredential(card) {
  const pair = await phoneKey();
  const asked = Date.now();
  const answer = await api.call("POST", `/cards/${card.card_id}/credentials`, {
    public_key: base64url(await publicKeyBytes(pair)),
  });
  const answered = Date.now();
  const kept = {
    card_id: card.card_id,
    card_number: card.card_number,
    credential: answer.credential,
    credential_id: answer.credential_id,
    expires_at: answer.expires_at,
    spend_limit: answer.spend_limit,
    // The server's clock less ours, at the middle of the request: tickets are signed with it.
    offset: Date.parse(answer.server_time) - (asked + answered) / 2,
    fetched_at: answered,
  };
  await store.put("credential", kept);
  return kept;
}

const serverNow = (credential) => Date.now() + credential.offset;
const expired = (credential) => serverNow(credential) >= Date.parse(credential.expires_at);

function ticketProblem(text) {
  $("ticket-show").hidden = true;
  const shown = $("ticket-problem");
  shown.textContent = text;
  shown.hidden = !text;
}

async function showTicket() {
  ticketProblem("");
  $("ticket-renew").hidden = true;
  if (!window.crypto || !crypto.subtle) return ticketProblem(t("no_webcrypto"));
  await loadCards();
  let credential = await store.get("credential");
  const card = cards.find((each) => each.kind === "virtual" && usable(each));
  if (!card && !credential) return ticketProblem(t("ticket_no_virtual"));
  if (card && !card.active) return ticketProblem(t("ticket_not_active"));
  if (card && credential && credential.card_id !== card.card_id) credential = null;
  const stale =
    !credential || expired(credential) || Date.now() - credential.fetched_at > RENEW_AFTER_MS;
  if (stale && card) {
    try {
      credential = await fetchCredential(card);
    } catch (problem) {
      if (problem.code !== "network") {
        await store.remove("credential");
        $("ticket-renew").hidden = false;
        return ticketProblem(t("ticket_refused", { reason: problemText(problem) }));
      }
      showOffline();
    }
  }
  if (!credential) return ticketProblem(t("ticket_missing_offline"));
  if (expired(credential)) {
    $("ticket-renew").hidden = false;
    return ticketProblem(t("ticket_expired_offline", { when: dateTime(credential.expires_at) }));
  }
  await runTicket(credential);
}

async function runTicket(credential) {
  const pair = await phoneKey();
  const bytes = fromBase64url(credential.credential);
  $("ticket-card").textContent = cardNumber(credential.card_number);
  $("ticket-expires").textContent = dateTime(credential.expires_at);
  $("ticket-limit").textContent = vnd(credential.spend_limit);
  $("ticket-show").hidden = false;
  const canvas = $("qr-canvas");
  const width = Math.min($("qr").clientWidth || 300, 340);
  let next = 0;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (expired(credential)) {
      stop();
      return showTicket();
    }
    const now = serverNow(credential);
    if (now >= next) {
      const signedAt = Math.floor(now / 1000);
      const text = await signTicket(bytes, signedAt, pair.privateKey);
      if (stopped) return;
      drawQr(canvas, text, width);
      canvas.dataset.signedAt = String(signedAt);
      next = signedAt * 1000 + RESIGN_SECONDS * 1000;
    }
    const seconds = Math.max(1, Math.ceil((next - serverNow(credential)) / 1000));
    $("ticket-countdown").textContent = t("countdown", { seconds });
  };
  const timer = setInterval(tick, 1000);
  const renew = async () => {
    if (Date.now() - credential.fetched_at > RENEW_AFTER_MS) {
      stop();
      showTicket();
    }
  };
  const stop = () => {
    stopped = true;
    clearInterval(timer);
    window.removeEventListener("online", renew);
  };
  window.addEventListener("online", renew);
  leaving = stop;
  await tick();
}

function wireTicket() {
  $("ticket-renew").addEventListener(
    "click",
    busy($("ticket-renew"), async () => {
      await store.remove("credential");
      await showTicket();
    }),
  );
}

// -- journeys, account, statement -------------------------------------------------------------

let journeysCard = null;

async function showJourneys(id) {
  await loadCards();
  const select = $("journeys-card");
  select.replaceChildren(
    ...cards.map((card) => el("option", { value: card.card_id }, cardTitle(card))),
  );
  const chosen =
    (id && cards.find((card) => card.card_id === id)) ||
    cards.find((card) => card.active) ||
    cards[0];
  if (!chosen) {
    $("journey-list").replaceChildren();
    $("journeys-none").hidden = false;
    $("account").hidden = true;
    return;
  }
  select.value = chosen.card_id;
  journeysCard = chosen;
  const month = $("statement-month");
  if (!month.value) month.value = new Date().toISOString().slice(0, 7);
  $("statement-link").hidden = true;
  const journeys = (await api.call("GET", `/cards/${chosen.card_id}/journeys?limit=30`)).data;
  $("journeys-none").hidden = journeys.length > 0;
  $("journey-list").replaceChildren(...journeys.map(journeyItem));
  $("account").hidden = chosen.kind !== "virtual";
  if (chosen.kind === "virtual") {
    const account = await api.call("GET", `/cards/${chosen.card_id}/account`);
    $("account-balance").textContent = t("account_balance", { amount: vnd(account.balance) });
    $("account-list").replaceChildren(...account.data.map(entryItem));
  }
}

function journeyItem(journey) {
  const unknown = t("unknown_stop");
  return el(
    "li",
    {},
    el(
      "p",
      {},
      el("strong", {}, t("journey_route", { route: journey.route_short_name || journey.route_id })),
      " · ",
      dateTime(journey.started_at),
    ),
    el(
      "p",
      {},
      t("journey_from_to", {
        origin: journey.origin_name || unknown,
        destination:
          journey.destination_name || (journey.status === "open" ? t("journey_open") : unknown),
      }),
    ),
    el("p", {}, el("strong", {}, t("journey_fare", { fare: vnd(journey.fare) }))),
    el("p", { class: "help" }, journey.why),
  );
}

function entryItem(entry) {
  const kind = `entry_${entry.kind}`;
  return el(
    "li",
    {},
    el(
      "p",
      {},
      el("strong", {}, kind in STRINGS ? t(kind) : entry.kind),
      " ",
      el("span", { class: entry.amount < 0 ? "out" : "in" }, (entry.amount > 0 ? "+" : "") + vnd(entry.amount)),
      " · ",
      t("entry_after", { amount: vnd(entry.balance_after) }),
    ),
    el("p", { class: "help" }, dateTime(entry.at), " · ", entry.why),
  );
}

// A file the API sends (statement, data export) becomes a link to save it: the API needs the
// bearer token, which a plain link cannot send.
async function fileLink(link, path, name, label) {
  const response = await api.call("GET", path, undefined, { raw: true });
  const blob = await response.blob();
  if (link.href && link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  const given = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  link.href = URL.createObjectURL(blob);
  link.download = given ? given[1] : name;
  if (label) link.textContent = label;
  link.hidden = false;
  link.focus();
}

function wireJourneys() {
  $("journeys-card").addEventListener("change", (event) => {
    go(`#/journeys/${event.target.value}`);
  });
  const form = $("statement-form");
  form.addEventListener(
    "submit",
    busy($("statement-get"), async () => {
      const month = form.month.value;
      await fileLink(
        $("statement-link"),
        `/cards/${journeysCard.card_id}/statement?month=${encodeURIComponent(month)}`,
        `statement-${month}.csv`,
        t("statement_ready", { month }),
      );
    }),
  );
}

// -- block and replace ------------------------------------------------------------------------

let managing = null;

async function showManage(id) {
  await loadCards();
  managing = cardById(id);
  $("manage-card").textContent = cardTitle(managing);
  $("block-form").hidden = !usable(managing);
}

function wireManage() {
  const block = $("block-form");
  block.addEventListener(
    "submit",
    busy($("block-submit"), async () => {
      const reason = new FormData(block).get("reason");
      const card = await api.call("POST", `/cards/${managing.card_id}/block`, { reason });
      say(t("blocked_done", { card: cardNumber(card.card_number) }), true);
      go("#/cards");
    }),
  );
  const replace = $("replace-form");
  replace.addEventListener(
    "submit",
    busy($("replace-submit"), async () => {
      const answer = await api.call("POST", `/cards/${managing.card_id}/replace`, {
        card_number: replace.card_number.value.replace(/\s/g, ""),
        check_code: replace.check_code.value.trim(),
      });
      replace.reset();
      say(
        t("replaced_done", {
          card: cardNumber(answer.card.card_number),
          amount: vnd(answer.moved),
          passes: answer.passes,
        }),
        true,
      );
      go("#/cards");
    }),
  );
}

// -- more: student fares, my data, sign out ---------------------------------------------------

async function showMore() {
  $("export-link").hidden = true;
  const [schools, applications] = await Promise.all([
    api.call("GET", "/schools"),
    api.call("GET", "/eligibility/applications"),
  ]);
  $("apply-school").replaceChildren(
    ...schools.data.map((school) => el("option", { value: school.code }, school.name)),
  );
  $("application-list").replaceChildren(
    ...applications.data.map((application) =>
      el(
        "li",
        {},
        t("application", {
          school: application.school.name,
          status: t(`app_status_${application.status}`),
        }),
        application.valid_until
          ? ` ${t("application_until", { until: day(application.valid_until) })}`
          : "",
      ),
    ),
  );
}

function wireMore() {
  const apply = $("apply-form");
  apply.addEventListener(
    "submit",
    busy($("apply-submit"), async () => {
      const answer = await api.call("POST", "/eligibility/applications", {
        school_code: apply.school_code.value,
        student_code: apply.student_code.value.trim(),
        full_name: apply.full_name.value.trim(),
        date_of_birth: apply.date_of_birth.value,
      });
      apply.reset();
      say(t("applied", { school: answer.school.name }), true);
      route();
    }),
  );
  $("export").addEventListener(
    "click",
    busy($("export"), () => fileLink($("export-link"), "/me/export", "my-data.json")),
  );
  const remove = $("delete-form");
  remove.addEventListener(
    "submit",
    busy($("delete-submit"), async () => {
      await api.call("DELETE", "/me", { password: remove.password.value });
      remove.reset();
      await api.forgetTokens();
      say(t("deleted"), true);
      go("#/signin");
    }),
  );
  $("sign-out").addEventListener(
    "click",
    busy($("sign-out"), async () => {
      await api.signOut();
      say(t("signed_out"), true);
      go("#/signin");
    }),
  );
}

// -- start ------------------------------------------------------------------------------------

async function start() {
  if (keepLanguage()) return;
  wireSignIn();
  wireCards();
  wireActivate();
  wireTopup();
  wireTicket();
  wireJourneys();
  wireManage();
  wireMore();
  api.whenSignedOut((key) => {
    say(t(key), true);
    go("#/signin");
  });
  window.addEventListener("online", showOffline);
  window.addEventListener("offline", showOffline);
  showOffline();
  await api.loadTokens();
  window.addEventListener("hashchange", () => route());
  await route(false);
  document.body.dataset.ready = "true";
  keepForOffline();
  window.addEventListener("online", () => keepForOffline());
}

// The service worker keeps the app and the ticket on the phone for when there is no network.
// On a weak signal its install can fail (one file not fetched, and the whole install with it):
// it is tried again while the app is open, a little later each time, and at once when the
// phone is back online, rather than only at the next opening.
const KEEP_RETRY_FIRST = 3000;
const KEEP_RETRY_MOST = 300000;
let keepRetry = null;

function keepForOffline(wait = KEEP_RETRY_FIRST) {
  if (!("serviceWorker" in navigator)) return;
  clearTimeout(keepRetry);
  const again = () => {
    keepRetry = setTimeout(() => keepForOffline(Math.min(wait * 2, KEEP_RETRY_MOST)), wait);
  };
  navigator.serviceWorker
    .register("sw.js", { scope: "./" })
    .then((registration) => {
      if (registration.active) return;
      const worker = registration.installing || registration.waiting;
      if (!worker) return again();
      worker.addEventListener("statechange", () => {
        if (worker.state === "redundant") again();
      });
    })
    .catch(again);
}

start();
