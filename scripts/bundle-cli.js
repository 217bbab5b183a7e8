#!/usr/bin/env node
// Bundles the CLI (tsc's dist/cli/cli.js and everything of ours and commander's it requires) into
// one file, dist/cli/ffrtmp.js, which dist/cli/main.js loads. Why and what it saves:
// docs/benchmarks.md, "Start-up". Part of `npm run build`, after tsc.
//
// - One file instead of ~80: Node resolves, stats, reads and wraps each module file it loads, and
//   that, more than compiling, was the start-up cost. Modules keep their CommonJS semantics:
//   each is still evaluated on its first require(), so a command loads only its own code.
// - Left outside, loaded from node_modules when (and only when) a command needs them: the
//   package's other dependencies (prom-client, bullmq, ioredis, yaml, node-gyp-build).
// - commander's top-level require('node:child_process') (~4 ms of every start; commander uses it
//   only for executable subcommands, which ffrtmp has none of) is made lazy. If commander's
//   source no longer has that line, the build fails rather than silently losing the change.
// - dist/cli/main.js, the executable, is bundled with the two modules it uses (src/cli/code-cache.ts,
//   compile-cache.ts), so a start loads one small file through Node's module loader, then the
//   bundle through the code cache: each extra module file was ~1-3 ms of a start on Node 22/24.
// - The library (dist/index.js) is not bundled: `require('ffrtmp')` uses tsc's files, and the
//   CLI never loads them, so no process holds two copies of a module.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const BUNDLED_DEPS = new Set(['commander']);
const external = Object.keys(pkg.dependencies).filter((d) => !BUNDLED_DEPS.has(d));
const outfile = path.join(root, 'dist', 'cli', 'ffrtmp.js');

const CHILD_PROCESS_LINE = "const childProcess = require('node:child_process');";
const LAZY_CHILD_PROCESS =
  "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) }; // ffrtmp: made lazy at bundle time";

/** commander/lib/command.js with its child_process require made lazy; fails the build if not found once. */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(build) {
    build.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const src = fs.readFileSync(args.path, 'utf8');
      const hits = src.split(CHILD_PROCESS_LINE).length - 1;
      const uses = [...src.matchAll(/childProcess\.(\w+)/g)].map((m) => m[1]);
      if (hits !== 1 || uses.some((u) => u !== 'spawn')) {
        return {
          errors: [{ text: `commander's child_process use changed (${hits} requires, uses: ${[...new Set(uses)].join(', ')}): update scripts/bundle-cli.js` }],
        };
      }
      return { contents: src.replace(CHILD_PROCESS_LINE, LAZY_CHILD_PROCESS), loader: 'js' };
    });
  },
};

function commanderLicense() {
  const dir = path.join(root, 'node_modules', 'commander');
  const { version } = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const text = fs.readFileSync(path.join(dir, 'LICENSE'), 'utf8').trim();
  return `/*!\n * Bundled: commander ${version}, https://github.com/tj/commander.js\n *\n${text.split('\n').map((l) => ` * ${l}`.trimEnd()).join('\n')}\n */`;
}

async function main() {
const result = await esbuild.build({
  entryPoints: [path.join(root, 'dist', 'cli', 'cli.js')],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external,
  plugins: [lazyChildProcess],
  banner: { js: `// ffrtmp's CLI, bundled by scripts/bundle-cli.js from dist/cli/cli.js. Do not edit.\n${commanderLicense()}` },
  legalComments: 'none',
  minifyWhitespace: true,
  minifySyntax: true,
  keepNames: false,
  metafile: true,
  logLevel: 'silent',
});

// Everything bundled must be ours (dist/), commander, or package.json: a new dependency that
// slipped in would otherwise be frozen into the CLI at an unreviewed version.
const inputs = Object.keys(result.metafile.inputs);
const stray = inputs.filter((f) => !/^(dist\/|node_modules\/commander\/|package\.json$)/.test(path.relative(root, path.resolve(f))));
if (stray.length > 0) {
  fs.rmSync(outfile, { force: true });
  console.error(`bundle-cli: unexpected inputs (add them to the externals or to BUNDLED_DEPS on purpose): ${stray.join(', ')}`);
  process.exit(1);
}

// ASCII only: Node reads a file with any other character into a two-byte string, which doubled the
// time to read the bundle and slowed its parse. esbuild escapes strings, but not regex literals.
const text = fs.readFileSync(outfile, 'latin1');
const at = text.search(/[^\x00-\x7f]/);
if (at >= 0) {
  fs.rmSync(outfile, { force: true });
  console.error(`bundle-cli: a non-ASCII character in the bundle, near ${JSON.stringify(text.slice(Math.max(0, at - 40), at + 10))}: write it as \\u escape in the source`);
  process.exit(1);
}

// A function expression with CommonJS's parameters, which src/cli/code-cache.ts compiles as it
// is (no wrapper string built around it at every start), and its id on the first line: the key of
// its V8 code cache, so no other build's cached code is ever used with it.
const wrapped = `(function (exports, require, module, __filename, __dirname) {${text}\n})`;
const id = crypto.createHash('sha256').update(wrapped).digest('hex').slice(0, 16);
fs.writeFileSync(outfile, `// ffrtmp-cli-bundle ${id}\n${wrapped}`);

// The executable, in place: it requires only Node's modules once bundled.
const mainFile = path.join(root, 'dist', 'cli', 'main.js');
const entry = await esbuild.build({
  entryPoints: [mainFile],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  write: false,
  metafile: true,
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'silent',
});
const mainInputs = Object.keys(entry.metafile.inputs).map((f) => path.relative(root, path.resolve(f)));
if (mainInputs.some((f) => !/^dist\/cli\/(main|code-cache|compile-cache)\.js$/.test(f))) {
  console.error(`bundle-cli: dist/cli/main.js now requires more than it should: ${mainInputs.join(', ')}`);
  process.exit(1);
}
fs.writeFileSync(mainFile, entry.outputFiles[0].contents, { mode: 0o755 });
}

main().catch((err) => {
  fs.rmSync(outfile, { force: true });
  const first = err.errors?.[0]?.text ?? err.message;
  console.error(`bundle-cli: ${first}`);
  process.exit(1);
});
