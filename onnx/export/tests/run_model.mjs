// Runs ONNX models in ONNX Runtime (CPU, one thread, default optimizations) on inputs read from text
// files and writes their outputs as text: the oracle side of the exporter's numerics test.
//
//   LNFOLD_ORT_DIR=DIR node run_model.mjs MODEL.onnx INPUTS.txt OUTPUTS.txt [MODEL INPUTS OUTPUTS ...]
//
// Several triples run in one process, in order: starting node and loading onnxruntime-node takes
// ~0.4 s, far longer than running one of the test's models, so the test passes all of them at once.
// DIR is where onnx/ort/install.sh put onnxruntime-node (as for onnx/ort/compare.mjs). Both files hold
// one tensor per two lines: "NAME TYPE RANK D0 D1 …" (TYPE float32 or int64), then its values in
// row-major order separated by spaces. Outputs are written in the session's output order, float32
// values with 9 significant digits (exact for float32). Any error: one line on stderr, exit 1.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

function fail(message) {
  process.stderr.write(`run_model.mjs: ${message}\n`);
  process.exit(1);
}

const args = process.argv.slice(2);
if (args.length === 0 || args.length % 3 !== 0)
  fail('usage: node run_model.mjs MODEL.onnx INPUTS.txt OUTPUTS.txt [MODEL INPUTS OUTPUTS ...]');
const dir = process.env.LNFOLD_ORT_DIR;
if (!dir) fail('LNFOLD_ORT_DIR is not set (the directory onnx/ort/install.sh installed into)');
let ort;
try {
  ort = createRequire(path.join(path.resolve(dir), 'package.json'))('onnxruntime-node');
} catch (e) {
  fail(`cannot load onnxruntime-node from '${dir}': ${String(e.message).split('\n')[0]}`);
}

async function runOne(model, inputsFile, outputsFile) {
  const lines = readFileSync(inputsFile, 'utf8').split('\n').filter((l) => l.length > 0);
  if (lines.length % 2 !== 0) fail(`'${inputsFile}': expected header and value lines in pairs`);
  const feeds = {};
  for (let i = 0; i < lines.length; i += 2) {
    const [name, type, rank, ...dims] = lines[i].trim().split(/\s+/);
    const shape = dims.map(Number);
    if (shape.length !== Number(rank)) fail(`'${inputsFile}': input '${name}' declares rank ${rank} but lists ${shape.length} dims`);
    const values = lines[i + 1].trim().split(' ');
    if (type === 'float32') feeds[name] = new ort.Tensor('float32', Float32Array.from(values, Number), shape);
    else if (type === 'int64') feeds[name] = new ort.Tensor('int64', BigInt64Array.from(values, (v) => BigInt(v)), shape);
    else fail(`'${inputsFile}': input '${name}' has type '${type}' (float32 or int64 expected)`);
  }

  try {
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3,
    });
    const out = await session.run(feeds);
    let text = '';
    for (const name of session.outputNames) {
      const t = out[name];
      if (t.type !== 'float32') fail(`output '${name}' has type ${t.type} (float32 expected)`);
      text += `${name} float32 ${t.dims.length} ${t.dims.join(' ')}\n`;
      text += Array.from(t.data, (v) => v.toPrecision(9)).join(' ') + '\n';
    }
    writeFileSync(outputsFile, text);
  } catch (e) {
    fail(`'${model}': ${String(e.message).split('\n')[0]}`);
  }
}

for (let i = 0; i < args.length; i += 3) await runOne(args[i], args[i + 1], args[i + 2]);
