// Validates an OpenAPI document against the OpenAPI 3.1 schema and resolves every $ref
// (@apidevtools/swagger-parser). Usage: node check.js FILE. Exit 0 when valid; 1 with the
// validator's message otherwise.
'use strict';
const SwaggerParser = require('@apidevtools/swagger-parser');

async function main() {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: node check.js openapi.json');
    process.exit(2);
  }
  try {
    const api = await SwaggerParser.validate(file);
    if (!String(api.openapi).startsWith('3.1')) throw new Error(`openapi is ${api.openapi}, not 3.1`);
    const ops = Object.values(api.paths).reduce(
      (n, item) => n + Object.keys(item).filter((k) => k !== 'parameters').length, 0);
    console.log(`${file}: valid OpenAPI ${api.openapi}, ${Object.keys(api.paths).length} paths, ${ops} operations`);
  } catch (e) {
    console.error(`${file}: ${e.message}`);
    process.exit(1);
  }
}

main();
