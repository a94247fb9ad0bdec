// Validates YAML files against a JSON Schema with yaml-language-server's
// own language service (what editors run), and prints each file's
// diagnostics as JSON: {"FILE": [{"line": 1, "character": 2, "message": "..."}]}.
//
//   node validate.js YAML_LANGUAGE_SERVER_DIR SCHEMA.json FILE.yaml...
'use strict';
const path = require('path');
const fs = require('fs');
const [dir, schemaPath, ...files] = process.argv.slice(2);
const req = (m) => require(require.resolve(m, { paths: [dir] }));
const { getLanguageService } = require(path.join(dir, 'out/server/src/languageservice/yamlLanguageService.js'));
const { TextDocument } = req('vscode-languageserver-textdocument');

const schemaUri = 'file://' + path.resolve(schemaPath);
const ls = getLanguageService({
  schemaRequestService: async (uri) => {
    if (uri !== schemaUri) throw new Error('unexpected schema request: ' + uri);
    return fs.readFileSync(schemaPath, 'utf8');
  },
  workspaceContext: { resolveRelativePath: (rel, res) => new URL(rel, res).toString() },
});
ls.configure({ validate: true, schemas: [{ uri: schemaUri, fileMatch: ['*.yaml'] }] });

(async () => {
  const out = {};
  for (const f of files) {
    const uri = 'file://' + path.resolve(f);
    const doc = TextDocument.create(uri, 'yaml', 1, fs.readFileSync(f, 'utf8'));
    const diags = await ls.doValidation(doc, false);
    out[f] = diags.map((d) => ({ line: d.range.start.line + 1, character: d.range.start.character + 1, message: d.message }));
  }
  process.stdout.write(JSON.stringify(out) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
