#!/usr/bin/env bash
# install-edge.sh: installs ffrtmp on an edge node (docs/edge-deployment.md), or removes it.
#
#   install-edge.sh --tarball ffrtmp-0.1.0.tgz      # the package from `npm pack` (it carries this script:
#                                                   #   tar -xzf ffrtmp-0.1.0.tgz package/deployment)
#   install-edge.sh --package @acme/ffrtmp@0.1.0    # or from the npm registry (a name that is yours)
#   install-edge.sh ... --dry-run                   # print every action, change nothing
#   install-edge.sh --uninstall [--purge]           # remove; --purge also the journal, /etc/ffrtmp, the user
#
# What it does, each step idempotent (a second run changes nothing that is already right):
#   the system user and group ffrtmp; /etc/ffrtmp, /var/lib/ffrtmp; the package into /opt/ffrtmp
#   (npm install --prefix) and /usr/local/bin/ffrtmp; the units ffrtmp-{agent,watch,serve}.service
#   and drop-ins into /etc/systemd/system; the env files and watch.yaml into /etc/ffrtmp, never
#   over an existing one (the new example goes beside it, as <name>.example); systemctl daemon-reload.
#   It starts nothing unless --enable says which units; it never stops a workload.
#
# --root DIR installs into DIR as if it were / (a fake root, an image being built): no user is
# created unless DIR/etc/passwd exists, and systemctl only enables (systemctl --root).
set -euo pipefail

readonly UNITS=(ffrtmp-agent.service ffrtmp-watch.service ffrtmp-serve.service)
readonly ENV_FILES=(ffrtmp.env agent.env watch.env serve.env)
readonly USER_NAME=ffrtmp

SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SRC

ROOT=/
TARBALL=
PACKAGE=
DRY_RUN=0
UNINSTALL=0
PURGE=0
UNPRIVILEGED=0
USER_DELEGATION=1
ENABLE=()
RESTART=0

die() {
  echo "install-edge.sh: $*" >&2
  exit 2
}

usage() {
  cat <<'EOF'
usage: install-edge.sh (--tarball FILE | --package SPEC) [--dry-run] [--root DIR] [--unprivileged]
                       [--no-user-delegation] [--enable agent,watch,serve] [--restart]
       install-edge.sh --uninstall [--purge] [--dry-run] [--root DIR]

  --tarball FILE          install the package from this `npm pack` tarball
  --package SPEC          install it from the npm registry (e.g. @acme/ffrtmp@0.1.0); the name must be yours
  --dry-run               print every action, change nothing
  --root DIR              install into DIR as if it were / (no systemd calls but `systemctl --root`)
  --unprivileged          run ffrtmp-agent and ffrtmp-serve as the user ffrtmp (cgroup v2 delegation)
  --no-user-delegation    do not install the user@.service delegation drop-in
  --enable LIST           enable (and, on a running systemd, start) these units: agent,watch,serve
  --restart               restart the units that are running (an upgrade; workloads continue)
  --uninstall             stop and remove what this script installs; keeps /etc/ffrtmp, the journal, the user
  --purge                 with --uninstall: remove /etc/ffrtmp, /var/lib/ffrtmp and the user as well
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --tarball) [ $# -ge 2 ] || die "--tarball needs a file"; TARBALL=$2; shift 2 ;;
    --tarball=*) TARBALL=${1#--tarball=}; shift ;;
    --package) [ $# -ge 2 ] || die "--package needs a package spec"; PACKAGE=$2; shift 2 ;;
    --package=*) PACKAGE=${1#--package=}; shift ;;
    --root) [ $# -ge 2 ] || die "--root needs a directory"; ROOT=$2; shift 2 ;;
    --root=*) ROOT=${1#--root=}; shift ;;
    --enable) [ $# -ge 2 ] || die "--enable needs a list (agent,watch,serve)"; IFS=, read -r -a ENABLE <<<"$2"; shift 2 ;;
    --enable=*) IFS=, read -r -a ENABLE <<<"${1#--enable=}"; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --uninstall) UNINSTALL=1; shift ;;
    --purge) PURGE=1; shift ;;
    --unprivileged) UNPRIVILEGED=1; shift ;;
    --no-user-delegation) USER_DELEGATION=0; shift ;;
    --restart) RESTART=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) die "unknown option ${1} (see --help)" ;;
  esac
done

# ---- every check before anything is touched -------------------------------------------------
[ -n "$ROOT" ] || die "--root is empty"
case "$ROOT" in /*) ;; *) ROOT="$(pwd)/$ROOT" ;; esac
ROOT=${ROOT%/}
[ -d "${ROOT:-/}" ] || die "--root ${ROOT} is not a directory"
if [ "$UNINSTALL" = 1 ]; then
  [ -z "$TARBALL$PACKAGE" ] || die "--uninstall takes no --tarball or --package"
  if [ "${#ENABLE[@]}" != 0 ] || [ "$RESTART" = 1 ]; then die "--uninstall takes no --enable or --restart"; fi
else
  [ "$PURGE" = 0 ] || die "--purge goes with --uninstall"
  [ -n "$TARBALL" ] || [ -n "$PACKAGE" ] || die "say what to install: --tarball FILE (npm pack) or --package SPEC (see --help)"
  [ -z "$TARBALL" ] || [ -z "$PACKAGE" ] || die "--tarball and --package exclude each other"
  if [ -n "$TARBALL" ]; then
    if [ ! -f "$TARBALL" ] || [ ! -r "$TARBALL" ]; then die "--tarball ${TARBALL} is not a readable file"; fi
    case "$TARBALL" in *.tgz | *.tar.gz) ;; *) die "--tarball ${TARBALL} is not an npm pack tarball (.tgz)" ;; esac
    TARBALL="$(cd "$(dirname "$TARBALL")" && pwd)/$(basename "$TARBALL")"
  fi
  for u in "${ENABLE[@]}"; do
    case "$u" in agent | watch | serve) ;; *) die "--enable ${u}: not a unit (agent, watch or serve)" ;; esac
  done
  command -v node >/dev/null || die "node is not on PATH (ffrtmp needs Node.js 20.17+)"
  command -v npm >/dev/null || die "npm is not on PATH (it installs the package)"
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=17)?0:1)' ||
    die "node $(node --version) is too old: ffrtmp needs Node.js 20.17+"
  for f in "${UNITS[@]}"; do [ -f "$SRC/systemd/$f" ] || die "missing $SRC/systemd/$f: run the script from the package or a clone"; done
fi
if [ "$DRY_RUN" = 0 ] && [ "$(id -u)" != 0 ] && [ -z "$ROOT" ]; then
  die "run it as root (or with --dry-run, or --root DIR)"
fi

# ---- how actions are done (and shown) --------------------------------------------------------
R() { printf '%s%s' "$ROOT" "$1"; }

say() { printf '%s\n' "$*"; }

# Prints the command (always) and runs it (unless --dry-run).
run() {
  printf '+'
  printf ' %q' "$@"
  printf '\n'
  [ "$DRY_RUN" = 1 ] || "$@"
}

booted() { [ -z "$ROOT" ] && [ -d /run/systemd/system ]; }

systemctl_() {
  if [ -n "$ROOT" ]; then
    run systemctl --root="$ROOT" "$@"
  elif command -v systemctl >/dev/null; then
    run systemctl "$@"
  else
    say "skip: systemctl $* (no systemctl on this host)"
  fi
}

# install_file SRC DEST MODE: copies unless DEST has the same content and mode already.
install_file() {
  local src=$1 dest=$2 mode=$3
  if [ -f "$dest" ] && cmp -s "$src" "$dest" && [ "$(stat -c %a "$dest")" = "${mode#0}" ]; then
    say "ok: $dest is up to date"
  else
    run install -D -m "$mode" "$src" "$dest"
  fi
}

# install_config SRC DEST: an operator's file. Written once; afterwards the new example goes beside it.
install_config() {
  local src=$1 dest=$2
  if [ -e "$dest" ]; then
    say "keep: $dest exists (never overwritten); the shipped example is ${dest}.example"
    install_file "$src" "${dest}.example" 0644
  else
    run install -D -m 0640 "$src" "$dest"
    install_file "$src" "${dest}.example" 0644
  fi
}

remove_file() {
  if [ -e "$1" ] || [ -L "$1" ]; then run rm -f "$1"; else say "ok: $1 is absent"; fi
}

remove_empty_dir() {
  if [ -d "$1" ]; then
    if [ -z "$(ls -A "$1")" ]; then run rmdir "$1"; else say "keep: $1 is not empty"; fi
  fi
}

PREFIX="$(R /opt/ffrtmp)"
SYSTEMD_DIR="$(R /etc/systemd/system)"
ETC="$(R /etc/ffrtmp)"
STATE="$(R /var/lib/ffrtmp)"
BIN_LINK="$(R /usr/local/bin/ffrtmp)"
DROPIN_USER="$SYSTEMD_DIR/user@.service.d/ffrtmp-delegate.conf"
UNPRIV_DROPINS=("$SYSTEMD_DIR/ffrtmp-agent.service.d/10-user.conf" "$SYSTEMD_DIR/ffrtmp-serve.service.d/10-user.conf")

[ "$DRY_RUN" = 0 ] || say "dry run: nothing is changed; each action is printed as it would run"
[ -z "$ROOT" ] || say "root: $ROOT (installing as if it were /)"

# ---- uninstall --------------------------------------------------------------------------------
if [ "$UNINSTALL" = 1 ]; then
  if booted; then
    for u in "${UNITS[@]}"; do
      if systemctl cat "$u" >/dev/null 2>&1; then
        # KillMode=process: this stops the ffrtmp process only; the workloads keep running.
        run systemctl disable --now "$u"
      fi
    done
  elif [ -n "$ROOT" ]; then
    for u in "${UNITS[@]}"; do
      if [ -f "$SYSTEMD_DIR/$u" ]; then systemctl_ disable "$u"; fi
    done
  else
    say "skip: stopping and disabling the units (not booted with systemd)"
  fi
  for u in "${UNITS[@]}"; do remove_file "$SYSTEMD_DIR/$u"; done
  for f in "${UNPRIV_DROPINS[@]}" "$DROPIN_USER"; do
    remove_file "$f"
    remove_empty_dir "$(dirname "$f")"
  done
  if [ -L "$BIN_LINK" ] && [[ "$(readlink "$BIN_LINK")" == /opt/ffrtmp/* ]]; then
    run rm -f "$BIN_LINK"
  elif [ -e "$BIN_LINK" ]; then
    say "keep: $BIN_LINK is not ours (not a link into /opt/ffrtmp)"
  fi
  if [ -d "$PREFIX" ]; then run rm -rf "$PREFIX"; else say "ok: $PREFIX is absent"; fi
  for f in "${ENV_FILES[@]}" watch.yaml; do remove_file "$ETC/$f.example"; done
  if [ "$PURGE" = 1 ]; then
    if [ -d "$ETC" ]; then run rm -rf "$ETC"; fi
    if [ -d "$STATE" ]; then run rm -rf "$STATE"; fi
    if [ -z "$ROOT" ] || [ -f "$ROOT/etc/passwd" ]; then
      if grep -q "^${USER_NAME}:" "$(R /etc/passwd)" 2>/dev/null; then
        if [ -n "$ROOT" ]; then run userdel --prefix "$ROOT" "$USER_NAME"; else run userdel "$USER_NAME"; fi
      fi
    fi
  else
    say "keep: $ETC (settings) and $STATE (the journal): --purge removes them"
  fi
  if booted; then run systemctl daemon-reload; else say "skip: systemctl daemon-reload (not booted with systemd)"; fi
  if [ "$DRY_RUN" = 1 ]; then say "dry run: done, nothing was changed."; exit 0; fi
  say "ffrtmp is uninstalled. Workloads that were running keep running; \`ffrtmp recover\` (reinstalled) records them."
  exit 0
fi

# ---- install ----------------------------------------------------------------------------------
# 1. The user and group (the --unprivileged units run as it; the state dir may belong to it).
if [ -z "$ROOT" ] || [ -f "$ROOT/etc/passwd" ]; then
  if grep -q "^${USER_NAME}:" "$(R /etc/passwd)"; then
    say "ok: user ${USER_NAME} exists"
  else
    prefix_args=()
    [ -z "$ROOT" ] || prefix_args=(--prefix "$ROOT")
    run useradd "${prefix_args[@]}" --system --user-group --no-create-home --home-dir /var/lib/ffrtmp \
      --shell /usr/sbin/nologin --comment "ffrtmp workload wrapper" "$USER_NAME"
  fi
else
  say "skip: user ${USER_NAME} (no $ROOT/etc/passwd)"
fi

# 2. Directories.
run install -d -m 0755 "$ETC" "$PREFIX/tarballs" "$(dirname "$BIN_LINK")"
run install -d -m 0750 "$STATE"
if [ "$UNPRIVILEGED" = 1 ] && [ -f "$(R /etc/passwd)" ]; then
  # StateDirectory= chowns it at start as well; done here so that it is right before the first start.
  if [ -z "$ROOT" ]; then run chown "$USER_NAME:$USER_NAME" "$STATE"; else say "skip: chown of $STATE (under --root; systemd's StateDirectory= does it at start)"; fi
fi

# 3. The package: npm install --prefix /opt/ffrtmp (it builds the native addon and the keeper there).
if [ -n "$TARBALL" ]; then
  name=$(basename "$TARBALL")
  install_file "$TARBALL" "$PREFIX/tarballs/$name" 0644
  spec="file:tarballs/$name"
else
  spec=$PACKAGE
fi
if [ "$DRY_RUN" = 1 ]; then
  run npm install --prefix "$PREFIX" --omit=dev --no-audit --no-fund "$spec"
else
  (cd "$PREFIX" && run npm install --prefix "$PREFIX" --omit=dev --no-audit --no-fund "$spec")
  if [ -n "$TARBALL" ]; then
    for old in "$PREFIX"/tarballs/*; do
      [ "$(basename "$old")" = "$name" ] || run rm -f "$old"
    done
  fi
  [ -x "$PREFIX/node_modules/.bin/ffrtmp" ] || die "npm installed no ffrtmp command in $PREFIX/node_modules/.bin"
fi
if [ "$(readlink "$BIN_LINK" 2>/dev/null || true)" = /opt/ffrtmp/node_modules/.bin/ffrtmp ]; then
  say "ok: $BIN_LINK -> /opt/ffrtmp/node_modules/.bin/ffrtmp"
elif [ -e "$BIN_LINK" ] && [ ! -L "$BIN_LINK" ]; then
  die "$BIN_LINK exists and is not a link (another ffrtmp, e.g. npm install -g?): remove it first"
else
  run ln -sfn /opt/ffrtmp/node_modules/.bin/ffrtmp "$BIN_LINK"
fi

# 4. Units and drop-ins (ours: replaced on each run; your changes belong in drop-ins of your own).
for u in "${UNITS[@]}"; do install_file "$SRC/systemd/$u" "$SYSTEMD_DIR/$u" 0644; done
if [ "$USER_DELEGATION" = 1 ]; then
  install_file "$SRC/systemd/user@.service.d/delegate.conf" "$DROPIN_USER" 0644
else
  say "skip: the user@.service delegation drop-in (--no-user-delegation)"
fi
for f in "${UNPRIV_DROPINS[@]}"; do
  if [ "$UNPRIVILEGED" = 1 ]; then
    install_file "$SRC/systemd/variants/run-as-ffrtmp.conf" "$f" 0644
  elif [ -e "$f" ]; then
    say "remove: $f (installed by an earlier --unprivileged run)"
    remove_file "$f"
    remove_empty_dir "$(dirname "$f")"
  fi
done

# 5. Settings: the operator's files, written once.
for f in "${ENV_FILES[@]}"; do install_config "$SRC/env/$f.example" "$ETC/$f"; done
install_config "$SRC/watch.yaml" "$ETC/watch.yaml"

# 6. systemd.
if booted; then
  run systemctl daemon-reload
else
  say "skip: systemctl daemon-reload (not booted with systemd${ROOT:+; installing under --root})"
fi
for u in "${ENABLE[@]}"; do
  if booted; then run systemctl enable --now "ffrtmp-$u.service"; else systemctl_ enable "ffrtmp-$u.service"; fi
done
if [ "$RESTART" = 1 ]; then
  if booted; then
    # try-restart: only the units that run. KillMode=process: the workloads keep running, and each
    # new process adopts what the old one governed.
    run systemctl try-restart "${UNITS[@]}"
  else
    say "skip: restarting the units (not booted with systemd)"
  fi
fi

if [ "$DRY_RUN" = 1 ]; then
  say "dry run: done, nothing was changed."
  exit 0
fi
say "ffrtmp is installed in /opt/ffrtmp (command: /usr/local/bin/ffrtmp)."
say "Next: edit /etc/ffrtmp/*.env (and watch.yaml), then: systemctl enable --now ffrtmp-serve ffrtmp-agent (and/or ffrtmp-watch);"
say "check with: ffrtmp doctor; journalctl -u ffrtmp-agent. Guide: docs/edge-deployment.md"
