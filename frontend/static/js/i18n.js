// Translations for the modules: the catalog script (/jsi18n/, loaded by base.html before any
// module) defines window.gettext and friends in the page's language. Without it (a page that
// does not load it, a failed request) the English text shows unchanged.
const catalog = typeof window !== "undefined" ? window : {};

export function gettext(text) {
  return typeof catalog.gettext === "function" ? catalog.gettext(text) : text;
}

export function ngettext(singular, plural, count) {
  if (typeof catalog.ngettext === "function") return catalog.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

// interpolate("%(count)s new posts", { count: 3 }): named placeholders, as in Python.
export function interpolate(text, values) {
  return text.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}
