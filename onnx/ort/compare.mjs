// Runs two ONNX models on the same seeded random inputs in ONNX Runtime (CPU) and prints one JSON
// line: how far their outputs are apart, and how long each takes.
//
//   LNFOLD_ORT_DIR=DIR node compare.mjs A.onnx B.onnx [--runs N] [--warmup N] [--seed S]
//       [--dim NAME=VALUE ...] [--int-range NAME=HI ...] [--threads N] [--opt-level LEVEL]
//       [--expect-max TOL]
//
// DIR is where onnx/ort/install.sh put onnxruntime-node. Inputs follow model A's input metadata:
// float inputs are N(0, 1) (Box-Muller on a seeded xorshift generator, so a seed gives the same
// inputs on every machine), integer inputs (token ids) are uniform integers in [0, HI] with HI from
// --int-range NAME=HI, default 1 (valid for any table of two or more rows), bool inputs are 0/1.
// float16 inputs get N(0, 1) rounded to float16. A symbolic dim takes its value from --dim NAME=VALUE,
// else 1. B must accept the same inputs; where B takes float16 for A's float32 (or the reverse), it
// gets the same values rounded (or widened).
//
// Output: {"max_rel_diff": x, "outputs": [{"name", "max_abs_diff", "scale"}],
//          "a_ms": {"median", "min", "max"}, "b_ms": {...}}
// max_rel_diff is lnfold's measure (include/lnfold/eval/compare.hpp): per output
// max|a − b| / max|a|, the maximum over outputs; a NaN difference, a different output count or a
// different shape gives infinity, printed as 1e999 (valid JSON that parsers read as infinity).
// Timing: --warmup untimed runs of each (the first one gives the outputs compared; at least one), then --runs timed runs alternating A and B, so load on the
// machine hits both alike. Sessions use --threads intra-op threads (default 1), one inter-op thread,
// sequential execution and graph optimization level --opt-level (disabled|basic|extended|all,
// default all: what a user of ORT gets).
// --expect-max TOL: after printing, exit 1 with a line on stderr when max_rel_diff > TOL (for tests).
// Any error: one line on stderr, exit 1.
//
//   LNFOLD_ORT_DIR=DIR node compare.mjs --batch < REQUESTS
//
// Many comparisons in one process (starting node and loading onnxruntime-node takes ~0.4 s, longer
// than comparing two of the tests' models): every line of stdin holds the arguments of one
// comparison, separated by tabs; for each, in order, one line on stdout: "ok JSON", "fail JSON
// MESSAGE" (max_rel_diff above --expect-max) or "error MESSAGE". Exit 0 once stdin has been read.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

// A comparison that cannot be made: the command line exits with it, --batch reports it and goes on.
class HarnessError extends Error {}
function fail(message) {
  throw new HarnessError(message);
}

function parseArgs(argv) {
  const opts = { expectMax: null, models: [], runs: 20, warmup: 3, seed: 1, threads: 1, optLevel: 'all', dims: {}, intRange: {} };
  const count = (flag, text, min) => {
    if (!/^\d+$/.test(text ?? '') || Number(text) < min) fail(`${flag} needs an integer >= ${min}, got '${text}'`);
    return Number(text);
  };
  const pair = (flag, text, min) => {
    const m = /^(.+)=(\d+)$/.exec(text ?? '');
    if (!m || Number(m[2]) < min) fail(`${flag} needs NAME=VALUE with an integer VALUE >= ${min}, got '${text}'`);
    return [m[1], Number(m[2])];
  };
  for (let i = 0; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--runs') opts.runs = count(a, argv[++i], 1);
    else if (a === '--warmup') opts.warmup = count(a, argv[++i], 0);
    else if (a === '--seed') opts.seed = count(a, argv[++i], 0);
    else if (a === '--threads') opts.threads = count(a, argv[++i], 1);
    else if (a === '--opt-level') {
      opts.optLevel = argv[++i];
      if (!['disabled', 'basic', 'extended', 'all'].includes(opts.optLevel))
        fail(`--opt-level needs disabled, basic, extended or all, got '${opts.optLevel}'`);
    } else if (a === '--expect-max') {
      opts.expectMax = Number(argv[++i]);
      if (!(opts.expectMax >= 0)) fail(`--expect-max needs a number >= 0, got '${argv[i]}'`);
    } else if (a === '--dim') { const [k, v] = pair(a, argv[++i], 1); opts.dims[k] = v; }
    else if (a === '--int-range') { const [k, v] = pair(a, argv[++i], 0); opts.intRange[k] = v; }
    else if (a.startsWith('--')) fail(`unknown option '${a}'`);
    else opts.models.push(a);
  }
  if (opts.models.length !== 2) fail('usage: node compare.mjs A.onnx B.onnx [--runs N] [--warmup N] [--seed S] ' +
                                     '[--dim NAME=VALUE ...] [--int-range NAME=HI ...] [--threads N] [--opt-level LEVEL] [--expect-max TOL]');
  return opts;
}

function loadOrt() {
  const dir = process.env.LNFOLD_ORT_DIR;
  if (!dir) fail('LNFOLD_ORT_DIR is not set (the directory onnx/ort/install.sh installed into)');
  try {
    return createRequire(path.join(path.resolve(dir), 'package.json'))('onnxruntime-node');
  } catch (e) {
    fail(`cannot load onnxruntime-node from '${dir}': ${String(e.message).split('\n')[0]}`);
  }
}

// xorshift64*: small, seedable, identical on every platform.
function makeRng(seed) {
  let s = (BigInt(seed) ^ 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn;
  if (s === 0n) s = 1n;
  const next = () => {
    s ^= s >> 12n; s ^= (s << 25n) & 0xffffffffffffffffn; s ^= s >> 27n;
    return Number(((s * 0x2545f4914f6cdd1dn) & 0xffffffffffffffffn) >> 11n) / 2 ** 53;  // [0, 1)
  };
  const normal = () => {
    const u = 1 - next(), v = next();  // u in (0, 1]: log(u) is finite
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  return { next, normal };
}

// float16 bit patterns <-> numbers (ONNX Runtime for Node hands float16 tensors over as Uint16Array
// bit patterns). toHalf rounds to nearest, ties to even, as lnfold's float16.hpp does.
function fromHalf(h) {
  const sign = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 31) return m ? NaN : sign * Infinity;
  return sign * (1024 + m) * 2 ** (e - 25);
}
function toHalf(x) {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (Number.isNaN(x)) return 0x7e00;
  const e = Math.max(Math.floor(Math.log2(a || 1)), -14);
  const unit = 2 ** (e - 10), q = a / unit;  // exact: q < 2^11
  let r = Math.floor(q);
  if (q - r > 0.5 || (q - r === 0.5 && r % 2 === 1)) r += 1;
  if (a === 0 || r === 0) return sign;
  let exp = e + 15, man = r;
  if (man >= 2048) { man /= 2; exp += 1; }
  if (man < 1024) return sign | man;  // subnormal
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | (man - 1024);
}
const numbers = (t) => (t.type === 'float16' ? Array.from(t.data, fromHalf) : Array.from(t.data, Number));
function asType(ort, t, type) {
  if (t.type === type) return t;
  if (type === 'float16' && t.type === 'float32') return new ort.Tensor('float16', Uint16Array.from(t.data, toHalf), t.dims);
  if (type === 'float32' && t.type === 'float16') return new ort.Tensor('float32', Float32Array.from(t.data, fromHalf), t.dims);
  return t;  // ORT names the mismatch
}

function makeInput(ort, meta, opts, rng) {
  if (!meta.isTensor) fail(`input '${meta.name}' is not a tensor`);
  const dims = meta.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : (opts.dims[d] ?? 1)));
  const size = dims.reduce((a, b) => a * b, 1);
  const hi = opts.intRange[meta.name] ?? 1;
  const int = () => Math.floor(rng.next() * (hi + 1));
  switch (meta.type) {
    case 'float32': return new ort.Tensor('float32', Float32Array.from({ length: size }, rng.normal), dims);
    case 'float64': return new ort.Tensor('float64', Float64Array.from({ length: size }, rng.normal), dims);
    case 'float16': return new ort.Tensor('float16', Uint16Array.from({ length: size }, () => toHalf(rng.normal())), dims);
    case 'int64': return new ort.Tensor('int64', BigInt64Array.from({ length: size }, () => BigInt(int())), dims);
    case 'int32': return new ort.Tensor('int32', Int32Array.from({ length: size }, int), dims);
    case 'bool': return new ort.Tensor('bool', Uint8Array.from({ length: size }, () => (rng.next() < 0.5 ? 0 : 1)), dims);
    default: fail(`input '${meta.name}' has element type ${meta.type}, which the harness does not generate`);
  }
}

async function open(ort, file, opts) {
  try {
    return await ort.InferenceSession.create(file, {
      executionProviders: ['cpu'], intraOpNumThreads: opts.threads, interOpNumThreads: 1,
      executionMode: 'sequential', graphOptimizationLevel: opts.optLevel, logSeverityLevel: 3,
    });
  } catch (e) {
    fail(`cannot load '${file}' in ONNX Runtime: ${String(e.message).split('\n')[0]}`);
  }
}

async function run(session, feeds, file) {
  try {
    const t0 = process.hrtime.bigint();
    const out = await session.run(feeds);
    return { out, ms: Number(process.hrtime.bigint() - t0) / 1e6 };
  } catch (e) {
    fail(`running '${file}' failed: ${String(e.message).split('\n')[0]}`);
  }
}

function compareOutputs(namesA, outA, namesB, outB) {
  let worst = namesA.length === namesB.length ? 0 : Infinity;
  const outputs = [];
  for (let k = 0; k < Math.min(namesA.length, namesB.length); ++k) {
    const a = outA[namesA[k]], b = outB[namesB[k]];
    const sameShape = a.dims.length === b.dims.length && a.dims.every((d, i) => d === b.dims[i]);
    let scale = 0, diff = sameShape ? 0 : Infinity;
    const av = numbers(a), bv = numbers(b);
    for (let i = 0; sameShape && i < av.length; ++i) {
      const x = av[i], y = bv[i];
      if (Number.isNaN(x - y)) { diff = Infinity; break; }
      scale = Math.max(scale, Math.abs(x));
      diff = Math.max(diff, Math.abs(x - y));
    }
    outputs.push({ name: namesA[k], max_abs_diff: diff, scale });
    worst = Math.max(worst, diff / Math.max(scale, 2.2250738585072014e-308));  // DBL_MIN, as compare.hpp
  }
  return { max_rel_diff: Number.isNaN(worst) ? Infinity : worst, outputs };
}

function stats(times) {
  const s = [...times].sort((x, y) => x - y);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2, min: s[0], max: s[s.length - 1] };
}

// Compares the two models of opts: {result (with a_ms, b_ms), exceeded: message or null}.
async function compare(ort, opts) {
  const [fileA, fileB] = opts.models;
  const a = await open(ort, fileA, opts);
  const b = await open(ort, fileB, opts);
  const rng = makeRng(opts.seed);
  const feeds = {};
  for (const meta of a.inputMetadata) feeds[meta.name] = makeInput(ort, meta, opts, rng);
  for (const name of b.inputNames)
    if (!(name in feeds)) fail(`'${fileB}' has input '${name}', which '${fileA}' does not have`);
  // B gets A's tensors; where B takes the other float type (a float16 export of a float32 model),
  // the same values rounded to it (to nearest even) or widened.
  const metaB = Object.fromEntries(b.inputMetadata.map((m) => [m.name, m]));
  const feedsB = Object.fromEntries(b.inputNames.map((n) => [n, asType(ort, feeds[n], metaB[n]?.type ?? feeds[n].type)]));

  const first = [await run(a, feeds, fileA), await run(b, feedsB, fileB)];
  const result = compareOutputs(a.outputNames, first[0].out, b.outputNames, first[1].out);
  for (let i = 1; i < opts.warmup; ++i) { await run(a, feeds, fileA); await run(b, feedsB, fileB); }
  const ta = [], tb = [];
  for (let i = 0; i < opts.runs; ++i) {
    ta.push((await run(a, feeds, fileA)).ms);
    tb.push((await run(b, feedsB, fileB)).ms);
  }
  result.a_ms = stats(ta);
  result.b_ms = stats(tb);
  await a.release();
  await b.release();
  const exceeded = opts.expectMax !== null && !(result.max_rel_diff <= opts.expectMax)
    ? `max_rel_diff ${result.max_rel_diff} of '${fileB}' against '${fileA}' exceeds ${opts.expectMax}` : null;
  return { result, exceeded };
}

// JSON.stringify turns infinity into null; 1e999 keeps it a number that JSON parsers read as infinity.
function toJson(result) {
  return JSON.stringify(result, (k, v) => (v === Infinity ? '\u0001inf' : v)).replace(/"\\u0001inf"/g, '1e999');
}

async function batch() {
  const ort = loadOrt();
  const lines = readFileSync(0, 'utf8').split('\n').filter((l) => l.length > 0);
  for (const line of lines) {
    let reply;
    try {
      const { result, exceeded } = await compare(ort, parseArgs(line.split('\t')));
      reply = exceeded ? `fail ${toJson(result)} ${exceeded}` : `ok ${toJson(result)}`;
    } catch (e) {
      if (!(e instanceof HarnessError)) throw e;
      reply = `error ${e.message}`;
    }
    process.stdout.write(reply + '\n');
  }
}

try {
  if (process.argv[2] === '--batch') {
    await batch();
  } else {
    const opts = parseArgs(process.argv.slice(2));
    const { result, exceeded } = await compare(loadOrt(), opts);
    process.stdout.write(toJson(result) + '\n');
    if (exceeded) fail(exceeded);
  }
} catch (e) {
  if (!(e instanceof HarnessError)) throw e;
  process.stderr.write(`compare.mjs: ${e.message}\n`);
  process.exit(1);
}
