// A person uploading a file through a web page's form, for s3gate's tests:
//
//   node upload-form.mjs FORM_JSON FILE
//       FORM_JSON is what `s3gate presign post` prints ({url, fields}).
//       Opens a page holding an HTML form with those fields as hidden
//       inputs and a file input, chooses FILE in it, presses Upload, and
//       prints the answer to the form's POST as JSON: {status, location}.
//
// Debian's Chromium driven by playwright-core, as browser.mjs does.
// Exits non-zero, printing why, when the answer does not come.
import { readFileSync } from 'node:fs';
import { launch } from './chromium.mjs';

const [formPath, filePath] = process.argv.slice(2);
const form = JSON.parse(readFileSync(formPath, 'utf8'));
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
const hidden = Object.entries(form.fields)
  .map(([name, value]) => `<input type="hidden" name="${esc(name)}" value="${esc(value)}">`)
  .join('\n');
const html = `<!doctype html><title>upload</title>
<form action="${esc(form.url)}" method="post" enctype="multipart/form-data">
${hidden}
<input type="file" name="file">
<button type="submit">Upload</button>
</form>`;

const browser = await launch();
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(20000);
  await page.setContent(html);
  await page.setInputFiles('input[type=file]', filePath);
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === form.url && r.request().method() === 'POST'),
    page.click('button'),
  ]);
  console.log(JSON.stringify({
    status: response.status(),
    location: response.headers()['location'] || '',
  }));
} catch (e) {
  console.error(`upload-form: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
