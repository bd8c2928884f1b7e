// Trunk post-build hook (release only): minifies the wasm-bindgen JS glue with terser and
// updates its Subresource Integrity hash in index.html. Trunk's own JS minifier cannot parse
// the glue and copies it as it is; minified, it travels ~2.6 KB smaller (gzip), and every byte
// of the first visit is downloaded before anything shows.
//
// Runs with Trunk's environment: TRUNK_PROFILE, TRUNK_STAGING_DIR, TRUNK_HTML_FILE. terser
// comes from .tools/terser (scripts/install-tools.sh). A failure fails the build: a glue file
// and an integrity hash that disagree would make the page refuse to load.

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

if (process.env.TRUNK_PROFILE !== 'release') process.exit(0);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const staging = process.env.TRUNK_STAGING_DIR;
if (!staging) throw new Error('TRUNK_STAGING_DIR is not set: run through trunk');
const { minify } = await import(pathToFileURL(path.join(root, '.tools', 'terser', 'node_modules', 'terser', 'main.js')).href);

const glue = readdirSync(staging).filter((f) => /^hush-[0-9a-f]+\.js$/.test(f));
if (glue.length !== 1) throw new Error(`expected one glue file in ${staging}, found ${glue}`);
const file = path.join(staging, glue[0]);
const source = readFileSync(file, 'utf8');
const out = await minify(source, { module: true, compress: { passes: 2 }, mangle: true, format: { comments: false } });
if (!out.code) throw new Error('terser produced nothing');
writeFileSync(file, out.code);

const integrity = `sha384-${createHash('sha384').update(out.code).digest('base64')}`;
const html = path.join(staging, 'index.html');
const page = readFileSync(html, 'utf8');
// The glue's <link rel=modulepreload> carries the hash (attributes unquoted after Trunk's
// HTML minifier, quoted before it).
const re = new RegExp(`(href=["']?/?${glue[0].replace('.', '\\.')}["']?[^>]*?integrity=["']?)sha384-[A-Za-z0-9+/=]+`);
const alt = new RegExp(`(integrity=["']?)sha384-[A-Za-z0-9+/=]+(["']?[^>]*?href=["']?/?${glue[0].replace('.', '\\.')})`);
let updated = page.replace(re, `$1${integrity}`);
if (updated === page) updated = page.replace(alt, `$1${integrity}$2`);
if (updated === page) throw new Error(`no integrity attribute for ${glue[0]} in index.html`);
writeFileSync(html, updated);
console.log(`minify-glue: ${glue[0]} ${source.length} → ${out.code.length} bytes`);
