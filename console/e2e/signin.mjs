// The console's sign-in, dashboard and sign-out, driven in Debian's Chromium
// by playwright-core (no browser download). Run by console/browser_test.go,
// which starts the API and passes BASE_URL, TOKEN, CHROMIUM and SCREENSHOTS;
// exits non-zero at the first expectation that fails.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import path from "node:path";

const { BASE_URL, TOKEN, CHROMIUM, SCREENSHOTS } = process.env;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(BASE_URL)) problems.push(`outside request: ${r.url()}`);
  });
  const shot = (name) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });

  await page.goto(BASE_URL + "/");
  const token = page.getByLabel("API token");
  await token.waitFor();
  await shot("sign-in");

  await token.fill("cft_wrong");
  await page.getByRole("button", { name: "Sign in" }).click();
  const refusal = page.locator("#token-error");
  await refusal.waitFor();
  assert.equal(await refusal.textContent(), "unknown, expired or revoked API token");
  assert.equal(await token.getAttribute("aria-invalid"), "true");
  await shot("sign-in-refused");

  await token.fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  assert.equal(await page.locator("header .who").textContent(), "console-admin (admin)");
  assert.equal(await page.locator(".card .value").first().textContent(), "0");
  await page.getByRole("img", { name: "Certificates expiring per week" }).waitFor();
  await shot("dashboard");

  await page.reload();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  await page.getByRole("button", { name: "Sign out" }).click();
  await token.waitFor();
  assert.deepEqual(problems, []);
} finally {
  await browser.close();
}
