#!/usr/bin/env node
// prepack: the tarball must carry a current addon and keeper for every arch we ship, or not be
// made at all (one line, exit 1). `npm run release` builds them first (docs/shipping.md).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const ARCHES = { x64: 62, arm64: 183 }; // ELF e_machine: EM_X86_64, EM_AARCH64
const FILES = ['ffrtmp.glibc.node', 'ffrtmp-keeper'];

function fail(msg) {
  console.error(`prepack: ${msg}: run npm run build:prebuilds (or npm run release)`);
  process.exit(1);
}

const sources = ['binding.gyp', ...fs.readdirSync(path.join(root, 'native')).map((f) => path.join('native', f))];
const newestSource = Math.max(...sources.map((f) => fs.statSync(path.join(root, f)).mtimeMs));

for (const [arch, machine] of Object.entries(ARCHES)) {
  for (const name of FILES) {
    const rel = path.join('prebuilds', `linux-${arch}`, name);
    const file = path.join(root, rel);
    let st;
    try {
      st = fs.statSync(file);
    } catch {
      fail(`${rel} is missing`);
    }
    const head = Buffer.alloc(20);
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, head, 0, 20, 0);
    fs.closeSync(fd);
    if (head.readUInt32BE(0) !== 0x7f454c46 || head.readUInt16LE(18) !== machine) fail(`${rel} is not a linux-${arch} ELF file`);
    if (name === 'ffrtmp-keeper' && (st.mode & 0o111) === 0) fail(`${rel} is not executable`);
    if (st.mtimeMs < newestSource) fail(`${rel} is older than the native sources`);
  }
}
