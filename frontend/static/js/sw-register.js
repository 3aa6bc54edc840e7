// Registers the service worker (/sw.js, which keeps static files only: see sw.js). A browser
// without service workers, or one that refuses (a private window, http on another host than
// localhost), simply runs the site from the network.
if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
}
