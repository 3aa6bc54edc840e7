// Vivid's service worker: keeps the site's own static files (CSS, JS, icons) for a quick start and
// a home-screen launch. It never stores anything else: API answers, pages and media (private
// pictures among them) always go to the network, as if there were no service worker.
//
// Served at /sw.js by apps/core/pwa.py, which fills in PRECACHE and VERSION (the static files'
// current URLs, hashed in production); a new deployment gets a new cache and drops the old one.

const VERSION = "dev";
const PRECACHE = [];
const CACHE = `vivid-static-${VERSION}`;
const STATIC_PREFIX = "/static/";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) => cache.addAll(PRECACHE)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) =>
        Promise.all(
          names.filter((name) => name.startsWith("vivid-static-") && name !== CACHE).map((name) => caches.delete(name)),
        ),
      )
      .then(() => self.clients.claim()),
  );
});

// Cache-first for the site's own /static/ files fetched with GET; nothing else is touched.
function cacheable(request) {
  if (request.method !== "GET") return false;
  const url = new URL(request.url);
  return url.origin === self.location.origin && url.pathname.startsWith(STATIC_PREFIX);
}

self.addEventListener("fetch", (event) => {
  if (!cacheable(event.request)) return; // network only: the browser fetches as usual
  event.respondWith(
    caches.open(CACHE).then(async (cache) => {
      const hit = await cache.match(event.request);
      if (hit) return hit;
      const response = await fetch(event.request);
      if (response.ok && response.type === "basic") cache.put(event.request, response.clone());
      return response;
    }),
  );
});
