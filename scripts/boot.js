// Hush loader: starts the wasm app. Copied into dist/ by index.html and referenced by the
// `pattern_script` in Trunk.toml, which passes the hashed file names as data attributes.
// It replaces Trunk's default inline loader so that the page needs no inline script and the
// Content-Security-Policy can stay `script-src 'self' 'wasm-unsafe-eval'`.
const tag = document.querySelector('script[data-hush-wasm]');
const { default: init } = await import(tag.dataset.hushJs);
const wasm = await init({ module_or_path: tag.dataset.hushWasm });
dispatchEvent(new CustomEvent('TrunkApplicationStarted', { detail: { wasm } }));
