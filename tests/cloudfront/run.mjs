// Runs a CloudFront Functions viewer-request function under Node for
// tests/cloudfront_function.rs: `node run.mjs FUNCTION.mjs CASES.json`.
//
// FUNCTION.mjs is the function's code as CloudFormation deploys it, with
// `export { handler };` appended; it imports `cloudfront` from the stand-in next to it
// (node_modules/cloudfront, from cloudfront.mjs). CASES.json is
// {"kvs": {key: value}, "cases": [{"name", "event", "kvs_fails"}]}. Prints one JSON
// object: {"handles": [the ids given to cf.kvs], "results": [{"name", "result",
// "kvs_gets"}]}, each result what the handler returned (a request or a response).

import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const [functionPath, casesPath] = process.argv.slice(2);
const input = JSON.parse(readFileSync(casesPath, 'utf8'));
const standIn = { data: input.kvs, fail: false, handles: [], gets: [] };
globalThis.cloudfrontStandIn = standIn;

const { handler } = await import(pathToFileURL(functionPath).href);
if (typeof handler !== 'function') throw new Error(functionPath + ' exports no handler');

const results = [];
for (const c of input.cases) {
  standIn.fail = Boolean(c.kvs_fails);
  standIn.gets = [];
  const result = await handler(c.event);
  results.push({ name: c.name, result, kvs_gets: standIn.gets });
}
process.stdout.write(JSON.stringify({ handles: standIn.handles, results }));
