// The rider's app's service worker, served as /app/sw.js (scope /app/) by api/rider_app.py,
// which puts `BUILD` ({version, files}) in front of this file: the shell, the manifest and
// every static file the app needs. They are kept in one cache per version, so a release
// replaces them all at once and the app (with the QR ticket) opens with no network.
//
// - Static files and the manifest: from the cache (each version's copy), else the network.
// - The shell (/app/, /app/?lang=en): from the cache at once when that address is kept, and
//   fetched again behind it for the next opening (stale-while-revalidate); else the network,
//   and offline the first shell kept.
// - The API (/api/…): never touched here; the app keeps what it needs offline (the ticket's
//   credential) itself, and nothing personal lands in this cache.
/* global BUILD */
const CACHE = `rider-app-${BUILD.version}`;
const SHELL = BUILD.files[0];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(BUILD.files.map((url) => new Request(url, { cache: "reload" }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names
            .filter((name) => name.startsWith("rider-app-") && name !== CACHE)
            .map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

// Each language's shell has its own address (/app/?lang=en): the one asked for when it is
// kept, else the network, and only with no network the first shell kept (a language never
// fetched on this phone shows offline in the first shell's language).
async function shell(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request, { ignoreVary: true });
  const fresh = fetch(request)
    .then((response) => {
      if (response.ok) cache.put(request, response.clone());
      return response;
    })
    .catch(() => null);
  if (kept) return kept;
  return (
    (await fresh) || (await cache.match(SHELL, { ignoreVary: true })) || Response.error()
  );
}

async function file(request) {
  const cache = await caches.open(CACHE);
  const kept = await cache.match(request, { ignoreVary: true, ignoreSearch: true });
  if (kept) return kept;
  const response = await fetch(request);
  if (response.ok) cache.put(request, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.endsWith("/sw.js")) return;
  if (request.mode === "navigate" && url.pathname.startsWith(new URL(SHELL, url).pathname)) {
    event.respondWith(shell(request));
  } else if (url.pathname.startsWith("/static/") || BUILD.files.includes(url.pathname)) {
    event.respondWith(file(request));
  }
});
