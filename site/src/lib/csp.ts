/**
 * The Content-Security-Policy of every page, sent as `<meta http-equiv>` by layouts/Layout.astro so
 * that a static host needs no configuration. It is the second wall behind escaping: were a name from
 * atlas.json, diff.json or a model ever inserted as markup, its inline script, event handler or
 * `javascript:` URL would not run, and nothing could be loaded from or sent to another origin.
 *
 * - scripts: the site's own files only. Astro bundles every page script into _astro/ and
 *   astro.config.ts keeps it from inlining any (vite.build.assetsInlineLimit 0), so no hash or
 *   'unsafe-inline' is needed. 'wasm-unsafe-eval' lets onnxruntime-web (the probe page) and Pagefind
 *   (search) compile WebAssembly; it does not allow eval.
 * - styles: the site's stylesheets only (no style attribute, no <style>).
 * - images: the site's files, `data:` (Pagefind's stylesheet draws its icons as data: SVG) and
 *   `blob:` (the probe page previews the chosen photo from an object URL).
 * - connect and workers: the site's origin (the probe's model and runtime, Pagefind's index and its
 *   worker, pagefind/pagefind-worker.js).
 * - no plugins, frames, <base> or form posts elsewhere.
 *
 * A meta policy cannot carry frame-ancestors (nor report-uri or sandbox): a host that can send
 * headers should add `Content-Security-Policy: frame-ancestors 'none'` to keep pages out of frames.
 * `astro dev` gets no policy (Vite injects inline styles and scripts while developing).
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "frame-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
].join('; ');
