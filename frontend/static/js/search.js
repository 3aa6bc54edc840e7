// The search page: the query goes back into the search boxes and onto the tab and "more"
// links from the address. The server never writes it into the page (the page shows only the
// results' own words), so this is where the person sees what they searched for.
const q = new URLSearchParams(window.location.search).get("q") || "";

if (q) {
  for (const input of document.querySelectorAll("input[data-search-q]")) {
    if (!input.value) input.value = q;
  }
  for (const link of document.querySelectorAll("a[data-search-link]")) {
    const url = new URL(link.getAttribute("href"), window.location.href);
    url.searchParams.set("q", q);
    link.setAttribute("href", url.pathname + url.search);
  }
}
