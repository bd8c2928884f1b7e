#!/usr/bin/env bash
# Installs everything Hush needs to build and test, and nothing twice.
#
# Every step first checks whether the right version is already there and skips itself if so,
# so a second run takes a second or two. Steps, in order:
#   1. rustup target wasm32-unknown-unknown
#   2. Trunk 0.21.14 (cargo install; 0.22 needs a newer rustc)
#   3. wasm-bindgen-cli, the exact version of `wasm-bindgen` in Cargo.lock (Trunk requires equality)
#   4. wasm-opt from npm `binaryen` into .tools/ with a wrapper in .tools/bin (Debian's is too old),
#      and terser into .tools/terser (the release build minifies the wasm-bindgen glue with it)
#   5. Debian packages: chromium chromium-driver firefox-esr coturn iproute2 util-linux
#   6. npm dependencies of e2e/ (playwright-core drives the system Chromium; never downloads one)
#   7. cargo-fuzz, where a nightly toolchain exists (fuzzing needs nightly; without it the fuzz
#      step of `make test` says it is skipped)
#
# Usage: scripts/install-tools.sh        (from anywhere; paths are relative to the repo root)
# Afterwards put ~/.cargo/bin and .tools/bin on PATH (the Makefile does this).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"

TRUNK_VERSION="0.21.14"
CARGO_FUZZ_VERSION="0.13.2"
BINARYEN_VERSION="132"
TERSER_VERSION="5.51.4"
APT_PACKAGES=(chromium chromium-driver firefox-esr coturn iproute2 util-linux)

CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
export PATH="$TOOLS/bin:$CARGO_BIN:$PATH"
# Never let an npm package fetch a browser of its own: we use Debian's Chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

say() { printf '[install-tools] %s\n' "$*"; }
die() { printf '[install-tools] ERROR: %s\n' "$*" >&2; exit 1; }

# Building tools from source is slow on 2 cores; LTO and 1 codegen unit would double it.
cargo_install() {
  CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 cargo install "$@"
}

command -v cargo >/dev/null || die "cargo not found (install Rust with rustup first)"
command -v rustup >/dev/null || die "rustup not found (needed to add the wasm32 target)"

# --- 1. wasm32 target --------------------------------------------------------------------
if rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  say "ok: rust target wasm32-unknown-unknown"
else
  say "adding rust target wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
fi

# --- 2. Trunk ----------------------------------------------------------------------------
have_trunk="$(trunk --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have_trunk" = "$TRUNK_VERSION" ]; then
  say "ok: trunk $TRUNK_VERSION"
else
  say "installing trunk $TRUNK_VERSION (found: ${have_trunk:-none}); takes ~6 min on 2 cores"
  cargo_install trunk --version "$TRUNK_VERSION" --locked
fi

# --- 3. wasm-bindgen-cli -----------------------------------------------------------------
# The CLI must equal the library exactly: read the library's version from Cargo.lock, falling
# back to the `=X.Y.Z` pin in Cargo.toml when there is no lock file yet.
wb_version="$(awk '
  /^\[\[package\]\]/ { in_wb = 0 }
  /^name = "wasm-bindgen"$/ { in_wb = 1; next }
  in_wb && /^version = / { gsub(/"/, "", $3); print $3; exit }
' "$ROOT/Cargo.lock" 2>/dev/null || true)"
if [ -z "$wb_version" ]; then
  wb_version="$(sed -n 's/^wasm-bindgen *= *"=\([0-9][0-9.]*\)".*/\1/p' "$ROOT/Cargo.toml" | head -n1)"
fi
[ -n "$wb_version" ] || die "cannot find the wasm-bindgen version in Cargo.lock or Cargo.toml"
have_wb="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have_wb" = "$wb_version" ]; then
  say "ok: wasm-bindgen-cli $wb_version"
else
  say "installing wasm-bindgen-cli $wb_version (found: ${have_wb:-none}); takes ~3 min"
  # No --locked: one of its locked dependencies is no longer on the registry.
  cargo_install wasm-bindgen-cli --version "$wb_version" --force
fi

# --- 4. wasm-opt (binaryen from npm) -----------------------------------------------------
command -v node >/dev/null || die "node not found (Node.js >= 20 is needed for wasm-opt and e2e)"
command -v npm >/dev/null || die "npm not found"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js >= 20 needed, found $(node --version)"

binaryen_js="$TOOLS/binaryen/node_modules/binaryen/bin/wasm-opt"
wrapper="$TOOLS/bin/wasm-opt"
have_opt="$("$wrapper" --version 2>/dev/null | awk '{print $3}' || true)"
if [ "$have_opt" = "$BINARYEN_VERSION" ]; then
  say "ok: wasm-opt $BINARYEN_VERSION ($wrapper)"
else
  say "installing binaryen@$BINARYEN_VERSION into $TOOLS/binaryen (found: ${have_opt:-none})"
  mkdir -p "$TOOLS/binaryen" "$TOOLS/bin"
  npm install --prefix "$TOOLS/binaryen" --no-audit --no-fund --no-save --ignore-scripts \
    "binaryen@$BINARYEN_VERSION" >/dev/null
  [ -f "$binaryen_js" ] || die "binaryen did not install $binaryen_js"
  # Relative to the wrapper so the checkout can move.
  cat >"$wrapper" <<'EOF'
#!/bin/sh
exec node "$(dirname "$0")/../binaryen/node_modules/binaryen/bin/wasm-opt" "$@"
EOF
  chmod +x "$wrapper"
  have_opt="$("$wrapper" --version 2>/dev/null | awk '{print $3}' || true)"
  [ "$have_opt" = "$BINARYEN_VERSION" ] || die "wasm-opt wrapper reports '${have_opt}', wanted $BINARYEN_VERSION"
  say "ok: wasm-opt $BINARYEN_VERSION ($wrapper)"
fi

# --- 4b. terser (npm), for the release build's post-build hook (scripts/minify-glue.mjs) ---
terser_pkg="$TOOLS/terser/node_modules/terser/package.json"
have_terser="$(node -p "require('$terser_pkg').version" 2>/dev/null || true)"
if [ "$have_terser" = "$TERSER_VERSION" ]; then
  say "ok: terser $TERSER_VERSION"
else
  say "installing terser@$TERSER_VERSION into $TOOLS/terser (found: ${have_terser:-none})"
  mkdir -p "$TOOLS/terser"
  npm install --prefix "$TOOLS/terser" --no-audit --no-fund --no-save --ignore-scripts \
    "terser@$TERSER_VERSION" >/dev/null
  [ -f "$terser_pkg" ] || die "terser did not install"
fi

# --- 5. Debian packages ------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)"
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ "${#missing[@]}" -eq 0 ]; then
  say "ok: apt packages ${APT_PACKAGES[*]}"
else
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || die "not root and no sudo: install ${missing[*]} by hand"
    SUDO="sudo"
  fi
  say "installing apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium missing after install"
[ -x /usr/bin/firefox-esr ] || die "/usr/bin/firefox-esr missing after install"

# --- 6. e2e npm dependencies -------------------------------------------------------------
# --ignore-scripts: bittorrent-tracker's client side pulls a package whose install script
# downloads a prebuilt binary (no network for that here); nothing we use needs install scripts.
e2e="$ROOT/e2e"
want_pw="$(node -p "require('$e2e/package.json').dependencies['playwright-core']")"
have_pw="$(node -p "try { require('$e2e/node_modules/playwright-core/package.json').version } catch { '' }")"
stamp="$e2e/node_modules/.package-lock.json"
if [ "$have_pw" = "$want_pw" ] && [ -f "$stamp" ] && \
   { [ ! -f "$e2e/package-lock.json" ] || [ ! "$e2e/package-lock.json" -nt "$stamp" ]; } && \
   [ ! "$e2e/package.json" -nt "$stamp" ]; then
  say "ok: e2e npm dependencies (playwright-core $have_pw)"
else
  say "installing e2e npm dependencies (playwright-core $want_pw)"
  if [ -f "$e2e/package-lock.json" ]; then
    (cd "$e2e" && npm ci --ignore-scripts --no-audit --no-fund)
  else
    (cd "$e2e" && npm install --ignore-scripts --no-audit --no-fund)
  fi
fi

# --- 7. cargo-fuzz (only with a nightly toolchain) --------------------------------------
if cargo +nightly --version >/dev/null 2>&1; then
  have_fuzz="$(cargo fuzz --version 2>/dev/null | awk '{print $2}' || true)"
  if [ "$have_fuzz" = "$CARGO_FUZZ_VERSION" ]; then
    say "ok: cargo-fuzz $CARGO_FUZZ_VERSION"
  else
    say "installing cargo-fuzz $CARGO_FUZZ_VERSION (found: ${have_fuzz:-none}); takes ~2 min"
    cargo_install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
  fi
else
  say "no nightly toolchain: cargo-fuzz not installed, fuzzing will be skipped"
fi

say "all tools present"
