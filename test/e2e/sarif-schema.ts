/**
 * The SARIF 2.1.0 JSON schema (test/fixtures/sarif-schema-2.1.0.json, vendored unchanged from oasis-tcs/sarif-spec)
 * compiled with Ajv for JSON Schema 2020-12 and ajv-formats.
 *
 * The file has two defects that keep any strict validator from compiling it, fixed here in memory (the file stays as
 * published): `region` has its `anyOf` (startLine, charOffset or byteOffset required) inside `properties`, where it
 * reads as a property schema that is an array; and the `language` patterns start with `(?i)`, an inline flag that
 * ECMAScript regular expressions do not have (it asks for a case-insensitive match, which the `i` flag gives).
 */
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { LOCAL_FIXTURES } from '../helpers.ts';

type Json = Record<string, any>;

export const SARIF_SCHEMA_FILE = `${LOCAL_FIXTURES}sarif-schema-2.1.0.json`;

function withKnownDefectsFixed(schema: Json): Json {
  const fixed = structuredClone(schema);
  const region = fixed['definitions']['region'];
  const { anyOf, ...properties } = region['properties'];
  fixed['definitions']['region'] = { ...region, properties, anyOf };
  return fixed;
}

/** RegExp that reads a leading `(?i)` as the `i` flag (`code` names it for Ajv's standalone code, unused here). */
const inlineCaseInsensitiveFlag = Object.assign(
  (pattern: string, flags: string) => (pattern.includes('(?i)') ? new RegExp(pattern.replace('(?i)', ''), `${flags}i`) : new RegExp(pattern, flags)),
  { code: 'inlineCaseInsensitiveFlag' },
);

/** Returns the validation errors of `document` against SARIF 2.1.0, one line each; empty when it is valid. */
export function sarifValidator(): (document: unknown) => string[] {
  const schema = JSON.parse(readFileSync(SARIF_SCHEMA_FILE, 'utf8')) as Json;
  const ajv = new Ajv2020.default({
    allErrors: true,
    strict: false,
    code: { regExp: inlineCaseInsensitiveFlag },
  });
  addFormats.default(ajv);
  const validate = ajv.compile(withKnownDefectsFixed(schema));
  return (document) => (validate(document) ? [] : (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message} ${JSON.stringify(error.params)}`));
}
