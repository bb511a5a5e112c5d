// The public /api/v1 API with the rider's tokens: a 401 is answered by refreshing once (one
// refresh at a time: a refresh token works once, and using one twice ends the login).
import * as store from "./store.js";

export class Problem extends Error {
  constructor(status, body) {
    super((body && (body.detail || body.title)) || `HTTP ${status}`);
    this.status = status;
    this.code = (body && body.code) || (status === 0 ? "network" : `http_${status}`);
    this.body = body;
  }
}

// The API words reasons and problems in the app's language, which the shell's <html lang> says.
const LANGUAGE = document.documentElement.lang === "en" ? "en" : "vi";

let tokens = null; // {access_token, refresh_token}
let refreshing = null;
export let onSignedOut = () => {};
export function whenSignedOut(callback) {
  onSignedOut = callback;
}

export async function loadTokens() {
  tokens = (await store.get("tokens")) || null;
  return tokens;
}

export const signedIn = () => Boolean(tokens && tokens.refresh_token);

export async function keepTokens(answer) {
  tokens = { access_token: answer.access_token, refresh_token: answer.refresh_token };
  await store.put("tokens", tokens);
}

export async function forgetTokens() {
  tokens = null;
  await store.clear();
}

async function send(method, path, body, headers, token, raw) {
  const sent = { Accept: "application/json", "Accept-Language": LANGUAGE, ...(headers || {}) };
  if (body !== undefined) sent["Content-Type"] = "application/json";
  if (token) sent.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(`/api/v1${path}`, {
      method,
      headers: sent,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new Problem(0, null);
  }
  if (raw && response.ok) return response;
  const text = response.status === 204 ? "" : await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch (error) {
    parsed = null;
  }
  if (!response.ok) throw new Problem(response.status, parsed);
  return { data: parsed, date: response.headers.get("Date") };
}

async function refresh() {
  if (!refreshing) {
    const used = tokens && tokens.refresh_token;
    refreshing = (async () => {
      try {
        const answer = await send("POST", "/auth/refresh", { refresh_token: used });
        await keepTokens(answer.data);
      } catch (problem) {
        if (problem.status === 401) {
          await forgetTokens();
          onSignedOut("session_ended");
        }
        throw problem;
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

// An answer's body, or a Problem; `options.raw` gives the Response (for a file).
export async function call(method, path, body, options = {}) {
  const anonymous = options.anonymous;
  const token = anonymous ? null : tokens && tokens.access_token;
  try {
    const answer = await send(method, path, body, options.headers, token, options.raw);
    return options.raw ? answer : answer.data;
  } catch (problem) {
    if (anonymous || problem.status !== 401 || !tokens) throw problem;
    await refresh();
    const again = await send(method, path, body, options.headers, tokens.access_token, options.raw);
    return options.raw ? again : again.data;
  }
}

export async function signOut() {
  const held = tokens && tokens.refresh_token;
  await forgetTokens();
  if (held) {
    try {
      await send("POST", "/auth/logout", { refresh_token: held });
    } catch (problem) {
      // Offline: the token is gone from this phone; it dies on the server in time.
    }
  }
}
