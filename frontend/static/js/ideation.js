// Ideation on the Create page: what a draft grid's tiles say and what their "Final" and "Vary"
// buttons ask the API for (POST /api/v1/generations with `variation_of`).
import { gettext, interpolate } from "./i18n.js";

// "Variation 3, seed 1234" (and the variation's own seed when it was varied): the tile's label
// and the start of its image's alt text.
export function tileLabel(asset, i) {
  const parts = [interpolate(gettext("Variation %(n)s"), { n: i + 1 })];
  if (asset.seed !== undefined && asset.seed !== null) parts.push(interpolate(gettext("seed %(seed)s"), { seed: asset.seed }));
  const steps = asset.variations || [];
  if (steps.length) parts.push(interpolate(gettext("variation %(n)s"), { n: steps[steps.length - 1][0] }));
  return parts.join(", ");
}

function base(job) {
  return {
    kind: "image",
    prompt: job.prompt,
    negative_prompt: job.negative_prompt,
    backend: job.backend,
  };
}

// The same picture at full quality: same prompt, seed and ratio (the server keeps the draft's
// seed, variation steps and aspect ratio; strength 0 adds no new step).
export function finalBody(job, asset) {
  return { ...base(job), quality: "final", count: 1, variation_of: asset.id, variation_strength: 0 };
}

// A new grid of drafts around the picture: its composition, other details and colours.
export function varyBody(job, asset, strength) {
  const count = Math.min(16, Math.max(4, Number(job.params.count) || 1));
  const s = Math.min(1, Math.max(0.1, Number(strength) || 0.5));
  return { ...base(job), quality: "draft", count, variation_of: asset.id, variation_strength: s };
}
