// The console end to end, driven in Debian's Chromium by playwright-core (no
// browser download): sign in, a credential, profiles (a refusal shown beside
// its field first), a CSV import with a row refused beside the row, profile
// assignment, a job on the simulated fleet watched to its end, its failed
// items, a CA request approved, a certificate revoked, a trust anchor
// uploaded and proven, sign out; then an auditor, who sees no control and
// whom the API refuses. Run by console/e2e_test.go, which starts the stack
// and passes its addresses; exits non-zero at the first expectation that
// fails, and saves a screenshot of every view in SCREENSHOTS.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { createSign } from "node:crypto";
import { execFileSync } from "node:child_process";
import https from "node:https";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const { BASE_URL, EST_URL, ADMIN_TOKEN, AUDITOR_TOKEN, SIM_URL, SIM_SECRET, CA_CERT, CA_KEY, CHROMIUM, SCREENSHOTS } = process.env;
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const problems = [];
const step = (what) => console.log(`· ${what}`);
try {
  const page = await browser.newPage({ viewport: { width: 1366, height: 860 } });
  page.setDefaultTimeout(20_000);
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(BASE_URL)) problems.push(`outside request: ${r.url()}`);
  });
  page.on("dialog", (d) => d.accept());
  const shot = (name) => page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const go = async (p, heading) => {
    await page.goto(BASE_URL + p);
    await page.getByRole("heading", { name: heading, exact: true }).waitFor();
  };
  const button = (name) => page.getByRole("button", { name, exact: true });
  const errorOf = (field) => page.locator(`#f-${field}-error`);
  // rows counts the rows of the page's first table once it has loaded.
  const rows = async () => {
    await page.locator("tbody").first().waitFor();
    return page.locator("tbody").first().locator("tr").count();
  };

  step("sign in: a wrong token is refused beside the field");
  await page.goto(BASE_URL + "/");
  const token = page.getByLabel("API token");
  await token.waitFor();
  await shot("sign-in");
  await token.fill("cft_wrong");
  await button("Sign in").click();
  await page.locator("#token-error").waitFor();
  assert.equal(await page.locator("#token-error").textContent(), "unknown, expired or revoked API token");
  assert.equal(await token.getAttribute("aria-invalid"), "true");
  await shot("sign-in-refused");
  await token.fill(ADMIN_TOKEN);
  await button("Sign in").click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  assert.equal(await page.locator("header .who").textContent(), "console-admin (admin)");

  step("a credential for the simulated fleet");
  await go("/credentials", "Device credentials");
  await page.locator("#f-name").fill("simfleet");
  await page.locator("#f-kind").selectOption("derived");
  await page.locator("#f-secret").fill(SIM_SECRET);
  await page.locator("#f-allowed_addresses").fill(`${SIM_URL}/devices/*`);
  await button("Create credential").click();
  await page.getByRole("cell", { name: "simfleet", exact: true }).waitFor();
  assert.equal(await page.getByText(SIM_SECRET).count(), 0, "the secret is not shown back");
  await shot("credentials");

  step("a profile: a bad validity is refused beside its field, then saved");
  await go("/profiles/new", "New profile");
  await page.locator("#f-name").fill("cameras");
  await page.locator("#f-validity_days").fill("0");
  await button("Create profile").click();
  await errorOf("validity_days").waitFor();
  assert.equal(await errorOf("validity_days").textContent(), "1 to 3650");
  assert.equal(await page.locator("#f-validity_days").getAttribute("aria-invalid"), "true");
  await shot("profile-refused");
  await page.locator("#f-validity_days").fill("90");
  await button("Create profile").click();
  await page.getByRole("heading", { name: "Profile cameras" }).waitFor();
  await shot("profile");
  await go("/profiles/new", "New profile");
  await page.locator("#f-name").fill("approved-cameras");
  await page.locator("#f-approval_mode").check();
  await button("Create profile").click();
  await page.getByRole("heading", { name: "Profile approved-cameras" }).waitFor();
  await go("/profiles", "Profiles");
  assert.equal(await rows(), 2);
  await shot("profiles");

  step("a CSV import: the bad row is refused beside the row, the others created");
  await go("/devices/import", "Import devices");
  const csv = ["id,name,device_type,address,credential"];
  for (let n = 1; n <= 6; n++) csv.push(`sim-0000${n},Camera ${n},camera,${SIM_URL}/devices/sim-0000${n},simfleet`);
  csv.push(`toaster-1,Toaster,toaster,${SIM_URL}/devices/toaster-1,simfleet`);
  await page.locator("#csv").fill(csv.join("\n"));
  await page.locator("#all-or-nothing").uncheck();
  await button("Import").click();
  await page.getByRole("heading", { name: "6 device(s) created, 1 row problem(s)" }).waitFor();
  const refused = page.locator("table tbody tr");
  assert.equal(await refused.count(), 1);
  assert.match(await refused.textContent(), /^8toaster-1,Toaster,toaster.*device_type"toaster" is not one of/);
  await shot("device-import");

  step("profiles assigned to selected devices");
  await go("/devices?device_type=camera", "Devices");
  assert.equal(await rows(), 6);
  for (let n = 1; n <= 5; n++) await page.getByLabel(`Select sim-0000${n}`).check();
  await page.locator("#f-profile_id").selectOption({ label: "cameras (tls)" });
  await button("Assign").click();
  await page.getByText("Profile assigned to 5 device(s).").waitFor();
  await page.getByLabel("Select sim-00006").check();
  await page.locator("#f-profile_id").selectOption({ label: "approved-cameras (tls)" });
  await button("Assign").click();
  await page.getByText("Profile assigned to 1 device(s).").waitFor();
  await page.getByRole("row", { name: /sim-00006/ }).getByText("approved-cameras").waitFor();
  await shot("devices");

  step("a job over every camera, by filter");
  await go("/jobs/new", "New job");
  await page.locator("#f-name").fill("console e2e");
  await page.locator("#f-device_type").fill("toaster");
  await button("Start job").click();
  await page.locator(".field-error").first().waitFor();
  assert.match(await page.locator("[role=alert]").first().textContent(), /no device matches/);
  await page.locator("#f-device_type").fill("camera");
  await button("Start job").click();
  await page.waitForURL(/\/jobs\/\d+$/);
  const jobURL = page.url();
  await page.getByRole("heading", { name: "Job console e2e" }).waitFor();
  await shot("job-running");

  step("the CA request of sim-00006 awaits approval, and is approved");
  await go("/ca-requests", "CA requests");
  for (let i = 0; (await page.getByRole("cell", { name: "sim-00006", exact: true }).count()) === 0; i++) {
    assert.ok(i < 60, "a pending CA request for sim-00006 within a minute");
    await page.waitForTimeout(1000);
    await go("/ca-requests", "CA requests");
  }
  await shot("ca-requests");
  await page.getByRole("row", { name: /sim-00006/ }).getByRole("button", { name: "Approve" }).click();
  await page.getByText("No request in this state.").waitFor();

  step("the job's bar reaches completion");
  await page.goto(jobURL);
  await page.getByText("completed with failures", { exact: true }).waitFor({ timeout: 120_000 });
  const bar = page.locator(".outcomes .bar").first();
  assert.equal(await bar.getAttribute("aria-label"), "OK, nothing to revoke: 5, Device failure: 1");
  assert.match(await page.locator(".legend").first().textContent(), /OK, nothing to revoke 5.*Device failure 1/);
  await shot("job");

  step("its failed items");
  await page.getByRole("link", { name: "Device failure (1)" }).click();
  await page.waitForURL(/state=device_failure/);
  await page.getByRole("cell", { name: "sim-00005", exact: true }).waitFor();
  // The unfiltered page may still show while the filtered one loads.
  await page.waitForFunction(() => document.querySelector("tbody")?.querySelectorAll("tr").length === 1);
  assert.equal(await rows(), 1);
  assert.match(await page.locator("tbody tr").textContent(), /simulated CSR failure/);
  await shot("job-failed-items");

  step("the jobs list shows the bar too");
  await go("/jobs", "Jobs");
  assert.equal(await page.locator(".outcomes .bar").first().getAttribute("aria-label"), "OK, nothing to revoke: 5, Device failure: 1");
  await shot("jobs");

  step("a certificate revoked with a reason");
  await go("/certificates?device_id=sim-00001", "Certificates");
  assert.equal(await rows(), 1);
  await page.locator("tbody tr a").first().click();
  await page.getByRole("heading", { name: /^Certificate \d+$/ }).waitFor();
  assert.match(await page.locator(".pem").textContent(), /^-----BEGIN CERTIFICATE-----/);
  await page.locator("#f-reason").selectOption("1");
  await button("Revoke").click();
  await page.locator(".facts .status", { hasText: "revoked" }).waitFor();
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByRole("link", { name: "Download PEM with chain" }).click()]);
  const chain = readFileSync(await download.path(), "utf8");
  assert.equal(chain.match(/-----BEGIN CERTIFICATE-----/g).length, 3, "the certificate, the issuing CA and the root");
  await shot("certificate");
  await go("/certificates", "Certificates");
  await page.getByRole("link", { name: "Expires" }).click();
  await page.waitForURL(/sort=not_after&order=asc/);
  await page.locator('th[aria-sort="ascending"]', { hasText: "Expires" }).waitFor();
  await page.getByRole("link", { name: "Expires ▲" }).click();
  await page.waitForURL(/sort=not_after&order=desc/);
  await page.locator('th[aria-sort="descending"]', { hasText: "Expires" }).waitFor();
  assert.equal(await rows(), 5, "sorted by expiry, latest first, every certificate still listed");
  await shot("certificates");

  step("a trust anchor: a bad PEM is refused beside the field, then uploaded and proven");
  await go("/trust-anchors", "Trust anchors");
  await page.locator("#f-name").fill("factory-ca");
  await page.locator("#f-pem").fill("not a certificate");
  await button("Upload").click();
  await errorOf("pem").waitFor();
  await shot("trust-anchor-refused");
  await page.locator("#f-pem").fill(readFileSync(CA_CERT, "utf8"));
  await button("Upload").click();
  await page.getByRole("cell", { name: "factory-ca", exact: true }).waitFor();
  await page.getByRole("row", { name: /factory-ca/ }).getByRole("button", { name: "Prove" }).click();
  await button("Get a verification code").click();
  const code = (await page.locator("#verification-code").textContent()).trim();
  const signature = createSign("sha256").update(code).sign(readFileSync(CA_KEY, "utf8"), "base64");
  await page.locator("#f-signature").fill(signature);
  await page.getByRole("form", { name: "Proof" }).getByRole("button", { name: "Prove" }).click();
  await page.getByRole("row", { name: /factory-ca/ }).getByText("proven").waitFor();
  await shot("trust-anchors");

  step("an issuing CA under an outside root: a bad name is refused beside the field, then the CSR, signed by openssl, is put to work");
  await go("/cas", "Certificate authorities");
  await page.locator("#f-name").fill("Corp!");
  await page.locator("#f-common_name").fill("Example certfleet Issuing CA");
  await button("Make the key and the CSR").click();
  await errorOf("name").waitFor();
  await page.locator("#f-name").fill("corp");
  await button("Make the key and the CSR").click();
  const csr = (await page.getByLabel("The CSR of corp").textContent()).trim();
  assert.match(csr, /^-----BEGIN CERTIFICATE REQUEST-----/);
  const work = mkdtempSync(path.join(tmpdir(), "console-ca-"));
  writeFileSync(path.join(work, "corp.csr"), csr + "\n");
  writeFileSync(path.join(work, "ext.cnf"), "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n");
  execFileSync("openssl", ["x509", "-req", "-in", path.join(work, "corp.csr"), "-CA", CA_CERT, "-CAkey", CA_KEY, "-CAcreateserial", "-CAserial", path.join(work, "ca.srl"),
    "-days", "1825", "-copy_extensions", "copy", "-extfile", path.join(work, "ext.cnf"), "-out", path.join(work, "corp.pem")]);
  await page.getByLabel("The signed certificate (PEM)").fill(readFileSync(path.join(work, "corp.pem"), "utf8"));
  await page.getByLabel("The chain above it, up to the root (PEM)").fill(readFileSync(CA_CERT, "utf8"));
  await button("Put the CA to work").click();
  await page.getByRole("cell", { name: "root (outside)" }).waitFor();
  step("the default CA renewed: its next CA is published, issuing after the overlap");
  await page.getByRole("form", { name: "Renew default" }).getByLabel("Publish the next CA this long before it issues").fill("720h");
  await button("Renew default").click();
  await page.getByText("Published beside the active CA").waitFor();
  await shot("cas");

  step("device types: a bad name is refused beside the field, a new type is added, the camera type gets a default profile");
  await go("/device-types", "Device types");
  await page.locator("#f-new-name").fill("Smart Meter");
  await button("Add").click();
  await page.locator("#f-new-name-error").waitFor();
  await page.locator("#f-new-name").fill("smart_meter");
  await page.locator("#f-new-description").fill("Smart meters");
  await button("Add").click();
  await page.getByRole("cell", { name: "smart_meter", exact: true }).waitFor();
  await page.locator("#f-edit-type").selectOption("camera");
  await page.locator("#f-edit-default_profile_id").selectOption({ label: "cameras" });
  await button("Save").click();
  await page.getByRole("row", { name: /^camera IP cameras/ }).getByRole("cell", { name: "cameras", exact: true }).waitFor();
  await shot("device-types");

  step("the other views");
  await go("/", "Dashboard");
  await page.getByRole("img", { name: "Certificates expiring per week" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Grafana dashboard" }).getAttribute("href"), "http://grafana.invalid/d/certfleet");
  assert.equal(await page.locator(".card", { hasText: "Devices" }).first().locator(".value").textContent(), "6");
  await page.getByText(/Job \d+: device sim-00005/).waitFor();
  await shot("dashboard");
  await go("/devices/sim-00005", "Device sim-00005");
  await page.getByRole("cell", { name: /simulated CSR failure/ }).waitFor();
  await shot("device");
  for (const [p, h, name] of [["/est-labels", "EST and SCEP labels", "est-labels"], ["/renewal-policies", "Renewal policies", "renewal-policies"],
    ["/audit", "Audit log", "audit"], ["/tokens", "API tokens", "tokens"], ["/devices/missing", "Devices without a valid certificate", "devices-missing"]]) {
    await go(p, h);
    await shot(name);
  }

  step("provisioning stations: a bad pattern is refused beside its field, a station is added with its secret shown once, enrolls a camera over EST, and is disabled");
  const rootPEM = await page.evaluate(async () => {
    const s = await (await fetch("/api/v1/session")).json();
    const profiles = await (await fetch("/api/v1/profiles?limit=100")).json();
    const cameras = profiles.items.find((p) => p.name === "cameras");
    const made = await fetch("/api/v1/est-labels", { method: "POST", headers: { "X-CSRF-Token": s.csrf_token, "Content-Type": "application/json" }, body: JSON.stringify({ label: "cams", profile_id: cameras.id }) });
    if (made.status !== 201) throw new Error(`the label: ${made.status} ${await made.text()}`);
    const cas = await (await fetch("/api/v1/cas")).json();
    return cas.items.find((c) => c.name === "default" && c.status === "active").chain.at(-1).pem;
  });
  await go("/stations", "Provisioning stations");
  await page.locator("#f-name").fill("line-1");
  await page.getByRole("checkbox", { name: "cams", exact: true }).check();
  await page.locator("#f-device_id_pattern").fill("Cam-[0-9");
  await page.locator("#f-max_enrollments").fill("100");
  await button("Add station").click();
  await errorOf("device_id_pattern").waitFor();
  await page.locator("#f-device_id_pattern").fill("Cam-[0-9]{4}");
  await button("Add station").click();
  const shownOnce = page.getByRole("status").filter({ hasText: "shown only now" });
  const stationSecret = (await shownOnce.locator("code").nth(1).textContent()).trim();
  assert.match(stationSecret, /^[A-Z2-7]{26}$/);
  await page.getByRole("link", { name: "line-1", exact: true }).waitFor();
  await shot("stations");
  const stationCSR = execFileSync("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "/dev/null", "-subj", "/CN=Cam-0001", "-outform", "DER"]);
  const [estStatus, estBody] = await estEnroll(`${EST_URL}/.well-known/est/cams/simpleenroll`, "line-1@station", stationSecret, stationCSR, rootPEM);
  assert.equal(estStatus, 200, estBody);
  await page.getByRole("link", { name: "line-1", exact: true }).click();
  await page.getByRole("heading", { name: "Station line-1" }).waitFor();
  await page.getByRole("link", { name: "Cam-0001", exact: true }).waitFor();
  await button("Disable").click();
  await page.locator(".facts .st-disabled").waitFor();
  await shot("station");
  const [disabledStatus, refusal] = await estEnroll(`${EST_URL}/.well-known/est/cams/simpleenroll`, "line-1@station", stationSecret, stationCSR, rootPEM);
  assert.equal(disabledStatus, 403);
  assert.match(refusal, /station "line-1" is disabled since/);

  step("webhooks: a bad URL is refused beside its field; a webhook is added and pinged, and its delivery log shows the receiver unreachable");
  await page.evaluate(async () => {
    const s = await (await fetch("/api/v1/session")).json();
    const made = await fetch("/api/v1/credentials", { method: "POST", headers: { "X-CSRF-Token": s.csrf_token, "Content-Type": "application/json" },
      body: JSON.stringify({ name: "hooks", kind: "bearer", secret: "console-e2e-hooks-secret-0123" }) });
    if (made.status !== 201) throw new Error(`the credential: ${made.status} ${await made.text()}`);
  });
  await go("/webhooks", "Webhooks");
  await page.locator("#f-name").fill("ops");
  await page.locator("#f-url").fill("ftp://hooks.example/certfleet");
  await page.getByRole("checkbox", { name: "job.finished", exact: true }).check();
  await page.getByRole("checkbox", { name: "ca_request.pending", exact: true }).check();
  await page.locator("#f-secret_credential").selectOption("hooks");
  await button("Add webhook").click();
  await errorOf("url").waitFor();
  await page.locator("#f-url").fill("http://127.0.0.1:9/certfleet");
  await button("Add webhook").click();
  await page.getByRole("link", { name: "ops", exact: true }).waitFor();
  await button("Ping").click();
  await shot("webhooks");
  await page.getByRole("link", { name: "ops", exact: true }).click();
  await page.getByRole("heading", { name: "Webhook ops" }).waitFor();
  await page.getByRole("cell", { name: /connection refused/ }).waitFor({ timeout: 30_000 });
  await shot("webhook");

  step("sign out");
  await button("Sign out").click();
  await token.waitFor();

  step("an auditor sees no control, and the API refuses one anyway");
  await token.fill(AUDITOR_TOKEN);
  await button("Sign in").click();
  await page.getByRole("heading", { name: "Dashboard" }).waitFor();
  assert.equal(await page.getByRole("link", { name: "Tokens" }).count(), 0);
  await go("/devices", "Devices");
  assert.equal(await page.getByRole("link", { name: "Import CSV" }).count(), 0);
  assert.equal(await page.locator("tbody input[type=checkbox]").count(), 0);
  await page.getByRole("link", { name: "Name" }).click();
  await page.waitForURL(/sort=name&order=asc/);
  await page.locator('th[aria-sort="ascending"]', { hasText: "Name" }).waitFor();
  await page.getByRole("link", { name: "Name ▲" }).click();
  await page.waitForURL(/sort=name&order=desc/);
  await page.locator('th[aria-sort="descending"]', { hasText: "Name" }).waitFor();
  // The ascending page stays until the descending one has loaded.
  await page.waitForFunction(() => document.querySelector("tbody tr")?.querySelectorAll("td")[1]?.textContent === "Camera 6");
  assert.equal(await page.locator("tbody tr").first().locator("td").nth(1).textContent(), "Camera 6", "sorted by name, last first, on the server");
  await go("/jobs", "Jobs");
  assert.equal(await page.getByRole("link", { name: "New job" }).count(), 0);
  await go("/certificates?device_id=sim-00002", "Certificates");
  await page.locator("tbody tr a").first().click();
  await page.getByRole("heading", { name: /^Certificate \d+$/ }).waitFor();
  assert.equal(await button("Revoke").count(), 0);
  const certificateId = page.url().split("/").pop();
  await go("/trust-anchors", "Trust anchors");
  assert.equal(await page.getByRole("button", { name: "Disable" }).count(), 0);
  assert.equal(await page.getByRole("heading", { name: "Upload a CA certificate" }).count(), 0);
  await shot("auditor-trust-anchors");
  await go("/device-types", "Device types");
  assert.equal(await page.getByRole("heading", { name: "Add a device type" }).count(), 0);
  assert.equal(await page.getByRole("link", { name: "Webhooks" }).count(), 0, "webhook URLs may hold tokens: admins only");
  await go("/stations/line-1", "Station line-1");
  await page.getByRole("link", { name: "Cam-0001", exact: true }).waitFor();
  assert.equal(await button("Enable").count(), 0);
  assert.equal(await page.getByRole("heading", { name: "Credentials" }).count(), 0);
  assert.equal(await page.getByRole("button", { name: "Delete" }).count(), 0);
  await go("/cas", "Certificate authorities");
  await page.getByRole("heading", { name: /^corp/ }).waitFor();
  assert.equal(await page.getByRole("heading", { name: "Add an issuing CA under your own root" }).count(), 0);
  const statuses = await page.evaluate(async (id) => {
    const s = await (await fetch("/api/v1/session")).json();
    const post = (p, body) => fetch(p, { method: "POST", headers: { "X-CSRF-Token": s.csrf_token, "Content-Type": "application/json" }, body: JSON.stringify(body) });
    return [(await post(`/api/v1/certificates/${id}/revoke`, { reason: 1 })).status, (await post("/api/v1/jobs", { name: "x", device_ids: ["sim-00002"] })).status];
  }, certificateId);
  assert.deepEqual(statuses, [403, 403]);
  await button("Sign out").click();
  await token.waitFor();
  assert.deepEqual(problems, []);
} finally {
  await browser.close();
}

// estEnroll sends a DER CSR to an EST simpleenroll URL with HTTP Basic, over
// TLS trusting only root, and resolves to [status, body].
function estEnroll(url, user, pass, der, root) {
  return new Promise((resolve, reject) => {
    const body = der.toString("base64");
    const req = https.request(url, {
      method: "POST", ca: root, auth: `${user}:${pass}`,
      headers: { "Content-Type": "application/pkcs10", "Content-Length": Buffer.byteLength(body) },
    }, (res) => {
      let text = "";
      res.on("data", (d) => (text += d));
      res.on("end", () => resolve([res.statusCode, text]));
    });
    req.on("error", reject);
    req.end(body);
  });
}
