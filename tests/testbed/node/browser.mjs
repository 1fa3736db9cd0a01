// Drives Debian's Chromium (playwright-core) through s3gate's sign-in, for
// s3gate's tests. Used two ways:
//
//   node browser.mjs portal URL SCREENSHOT USER
//       opens URL (the portal), signs in at the test IdP's dev form as USER,
//       and prints the portal's text as JSON once it shows; saves a
//       screenshot of the page to SCREENSHOT.
//   node browser.mjs cli URL            (as $BROWSER for `s3gate login`)
//       the same sign-in (user from S3GATE_TEST_USER), then presses "Allow"
//       (or "Cancel" with S3GATE_TEST_CLICK=cancel) on s3gate's CLI page and
//       waits for the loopback page.
//   node browser.mjs device URL CODE
//       signs in, prints what the device form holds before typing
//       (`prefilled=…`), types CODE into it and submits it; prints what
//       the approval page shows (`device=…`, `grants=…`) and approves.
//   node browser.mjs visit URL PAGE USER
//       signs in at the portal (URL) as USER, then, signed in, opens PAGE
//       and prints its title once its scripts had their moment (as `page`).
//   node browser.mjs page URL
//       opens URL (no sign-in), gives its scripts a moment, and prints the
//       page's title: what a page's own script can change, and read back
//       without running script in the page.
//
// Exits non-zero, printing why, when a step does not come.
import { launch } from './chromium.mjs';

const [mode, url, arg] = process.argv.slice(2);
const user = ['portal', 'visit'].includes(mode) ? process.argv[5] : (process.env.S3GATE_TEST_USER || 'alice');
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 1400 } });
  page.setDefaultTimeout(20000);
  await page.goto(url);
  // The title as the browser shows it, read without running script in the
  // page (a sandboxed page may not run any).
  const title = async () => {
    // Scripts that run set the title at once; fetches settle within this.
    await page.waitForTimeout(1500);
    const cdp = await page.context().newCDPSession(page);
    const { targetInfo } = await cdp.send('Target.getTargetInfo');
    return targetInfo.title;
  };
  if (mode === 'page') {
    console.log(await title());
    process.exit(0);
  }
  // The IdP's dev interactions: a login form, then a consent form.
  await page.waitForSelector('input[name="login"]');
  await page.fill('input[name="login"]', user);
  await page.fill('input[name="password"]', 'any');
  await page.click('button[type="submit"]');
  // Back on the gateway, or on the IdP's consent page (no login field)
  // first: poll for either, since right after the click the login page
  // may still be showing (a busy machine is slow to navigate).
  const origin = new URL(url).origin;
  const consent = page.locator('button[autofocus], form button[type="submit"]');
  const deadline = Date.now() + 20000;
  while (!page.url().startsWith(origin)) {
    if (Date.now() > deadline) throw new Error(`sign-in stuck at ${page.url()}`);
    const onConsent = (await page.locator('input[name="login"]').count()) === 0
      && await consent.first().isVisible().catch(() => false);
    if (onConsent) await consent.first().click().catch(() => {});
    await page.waitForTimeout(200);
  }
  if (mode === 'portal') {
    await page.waitForSelector('#grants');
    await page.screenshot({ path: arg, fullPage: true });
    const text = await page.evaluate(() => ({
      title: document.title,
      heading: document.querySelector('h1').textContent,
      principal: document.querySelector('#principal').textContent,
      groups: document.querySelector('#groups')?.textContent ?? '',
      grants: document.querySelector('#grants').textContent,
      env: document.querySelector('#env').textContent,
      expiry: document.querySelector('#expiry').textContent,
    }));
    console.log(JSON.stringify(text));
  } else if (mode === 'visit') {
    await page.waitForSelector('#grants');
    await page.goto(arg);
    console.log(await title());
  } else if (mode === 'cli') {
    // S3GATE_TEST_CLICK=cancel presses Cancel instead of Allow.
    const button = `#${process.env.S3GATE_TEST_CLICK || 'approve'}`;
    await page.waitForSelector(button);
    await page.click(button);
    await page.waitForSelector('#message');
    console.log(await page.textContent('#message'));
  } else if (mode === 'device') {
    await page.waitForSelector('#user_code');
    // What the page offered before anyone typed (a link must not pre-fill).
    console.log(`prefilled=${await page.inputValue('#user_code')}`);
    await page.fill('#user_code', arg);
    await page.click('#approve');
    // The page that shows what is being approved (when there is one):
    // print what it says, then approve.
    await page.waitForSelector('#confirm, #message');
    if (await page.locator('#confirm').count() > 0) {
      console.log(`device=${(await page.innerText('#device')).replace(/\s+/g, ' ')}`);
      console.log(`grants=${(await page.innerText('#device-grants')).replace(/\s+/g, ' ')}`);
      await page.click('#confirm');
    }
    await page.waitForSelector('#message');
    console.log(await page.textContent('#message'));
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
} finally {
  // Playwright gives Chromium a fresh, temporary profile and removes it.
  await browser.close();
}
