/**
 * End to end on the ComfyUI engine: `desainz start` with COMFYUI_URL pointing at the fake
 * ComfyUI (test/fakes/comfyui.ts) makes, per selected idea, N candidates whose print files
 * are 4500x5400 at 300 DPI with alpha, transparent where the fake drew white, plus
 * mock-ups and listings; in headless Chromium the Ideas view shows the progress bars
 * moving during the run, the candidates side by side, a pick, and a refinement producing
 * new candidates linked to their parent: its progress bars and then its candidates with
 * their mock-ups appear without a reload, and the reviewer's pick stays. No prompt is
 * queued twice.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process"
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import sharp from "sharp"
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest"
import { launchChromium } from "../ui/support/chromium.ts"
import { type FakeComfyUI, startFakeComfyUI } from "./fakes/comfyui.ts"
import { uniqueName } from "./support/harness.ts"
import { freePort } from "./support/redisServer.ts"

const BIN = new URL("../bin/desainz.js", import.meta.url).pathname
const FIXTURE = new URL("./fixtures/signals.jsonl", import.meta.url).pathname
const TOKEN = "e2e-comfy-token"
const CANDIDATES = 2
const dir = mkdtempSync(join(tmpdir(), "desainz-e2e-comfy-"))
const SHOTS = join(import.meta.dirname, "..", "test-results", "ui")
const scope = Effect.runSync(Scope.make())
let fake: FakeComfyUI
const children: Array<ChildProcess> = []

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true })
  expect(spawnSync(process.execPath, [join(import.meta.dirname, "..", "ui", "ensure-built.mjs")], { stdio: "inherit" }).status).toBe(0)
  fake = await Effect.runPromise(Scope.extend(startFakeComfyUI, scope))
  // Slow enough sampling that a browser sees the bars move.
  fake.stepMs = 120
}, 180_000)
afterAll(async () => {
  children.forEach((c) => c.exitCode === null && c.kill("SIGKILL"))
  await Effect.runPromise(Scope.close(scope, Exit.void))
})

const waitFor = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 250))
  }
}
const json = async (url: string, init?: RequestInit) => (await fetch(url, init)).json() as Promise<any>

/** The recording's four distinct signals; the Disney one is held for review with its brand-safety reason, not dropped. */
const IDEAS = 4

describe("end to end on ComfyUI (fake server)", () => {
  it("renders N candidates per idea as print files, mocks them up, lists them, and shows it live", async () => {
    const [port, pgPort] = [await freePort(), await freePort()]
    const child = spawn(process.execPath, [BIN, "start"], {
      env: {
        ...process.env,
        REDIS_URL: inject("redisUrl"),
        TOPOLOGY_NAME: uniqueName("e2e-comfy"),
        OCCASIONS: "off",
        REPLAY_FILE: FIXTURE,
        REPLAY_FORMAT: "jsonl",
        REPLAY_SPEED: "0",
        REVIEW_AUTO_APPROVE: "0.7",
        PGLITE_DIR: join(dir, "pg"),
        PGLITE_PORT: String(pgPort),
        BLOB_DIR: join(dir, "blobs"),
        PORT: String(port),
        DESAINZ_TOKEN: TOKEN,
        LOG_LEVEL: "warning",
        COMFYUI_URL: fake.url,
        COMFYUI_WIDTH: "1024",
        COMFYUI_HEIGHT: "1024",
        ARTWORK_CANDIDATES: String(CANDIDATES)
      },
      stdio: ["ignore", "inherit", "inherit"]
    })
    children.push(child)
    const base = `http://127.0.0.1:${port}`
    await waitFor("the server answers", async () => (await fetch(`${base}/health`).catch(() => undefined))?.ok === true, 120_000)

    const browser = await launchChromium()
    try {
      const page = await browser.context.newPage()
      // The bars move: wait for the first generation to execute, then watch one bar's value.
      await waitFor("a generation executes", async () => (await json(`${base}/api/generations/progress`)).states.some((s: any) => s.phase === "executing"), 120_000)
      await page.goto(`${base}/`)
      await page.evaluate(`sessionStorage.setItem("desainz.token", ${JSON.stringify(TOKEN)})`)
      await page.goto(`${base}/#/ideas`)
      const bars = page.locator('[data-testid="generation-progress"] [role="progressbar"]')
      await bars.first().waitFor({ timeout: 60_000 })
      const seen = new Set<string>()
      const deadline = Date.now() + 60_000
      while (seen.size < 3 && Date.now() < deadline) {
        for (const value of await bars.evaluateAll((els) => els.map((e) => e.getAttribute("aria-valuenow") ?? ""))) seen.add(value)
        await page.waitForTimeout(100)
      }
      expect(seen.size).toBeGreaterThanOrEqual(3)
      await page.screenshot({ path: join(SHOTS, "e2e-comfyui-progress.png"), fullPage: true })

      const snapshot = async () => json(`${base}/api/snapshot`)
      await waitFor(
        "the recording flows through ComfyUI",
        async () => {
          const s = await snapshot()
          const node = (n: string) => s.nodes.find((x: any) => x.name === n).processed
          return node("review") === IDEAS && s.streams.every((st: any) => st.groups.every((g: any) => g.pending === 0 && (g.lag ?? 0) === 0))
        },
        300_000
      )
      const ideas = (await json(`${base}/api/ideas?status=mocked`)).ideas.concat((await json(`${base}/api/ideas?status=live`)).ideas) as Array<any>
      expect(ideas.length).toBe(IDEAS)
      for (const idea of ideas) {
        const { generations, pickedCandidateId } = await json(`${base}/api/ideas/${idea.ideaId}/generations`)
        expect(generations).toHaveLength(1)
        expect(generations[0].candidates).toHaveLength(CANDIDATES)
        expect(generations[0].candidates.map((c: any) => c.candidateId)).toContain(pickedCandidateId)
        for (const c of generations[0].candidates) {
          const file = join(dir, "blobs", decodeURIComponent(c.printFileUrl.slice("/blobs/".length)))
          const meta = await sharp(file).metadata()
          expect([meta.width, meta.height, meta.density, meta.hasAlpha, meta.format]).toEqual([4500, 5400, 300, true, "png"])
          // Transparent where the fake drew its white ground (the corners), ink in the middle.
          const corner = await sharp(file).extract({ left: 20, top: 20, width: 1, height: 1 }).raw().toBuffer()
          expect(corner[3]).toBe(0)
          expect((await sharp(file).extractChannel(3).stats()).channels[0]!.max).toBe(255)
          expect(c.mockups.length).toBe(2)
          for (const m of c.mockups) expect(existsSync(join(dir, "blobs", decodeURIComponent(m.url.slice("/blobs/".length))))).toBe(true)
        }
      }
      // A listing drafted for each (one auto-approved and exported, the others parked for review).
      const listings = execFileSync("psql", ["-h", "127.0.0.1", "-p", String(pgPort), "-U", "postgres", "-d", "postgres", "-At", "-c", "select count(*) from listings"]).toString().trim()
      expect(listings).toBe(String(IDEAS))
      // Every prompt went to ComfyUI exactly once.
      expect(fake.submissions.size).toBe(IDEAS * CANDIDATES)
      expect([...fake.submissions.values()].every((n) => n === 1)).toBe(true)

      // Candidates side by side; pick the other one; refine.
      const pending = ideas.find((i) => i.reviewStatus === "pending")!
      await page.reload()
      const card = page.locator(`li[data-idea="${pending.ideaId}"]`)
      await card.waitFor()
      const figures = card.locator("figure.candidate")
      await expect.poll(() => figures.count(), { timeout: 30_000 }).toBe(CANDIDATES)
      const other = card.locator("figure.candidate:not(.picked)").first()
      const picked = await other.getAttribute("data-candidate")
      await other.getByRole("button", { name: "Pick" }).click()
      await expect.poll(async () => (await json(`${base}/api/ideas/${pending.ideaId}/generations`)).pickedCandidateId, { timeout: 20_000 }).toBe(picked)
      await expect.poll(() => card.locator("figure.candidate.picked").getAttribute("data-candidate"), { timeout: 20_000 }).toBe(picked)
      // The card's print file and mock-up thumbnails are the pick's now.
      await expect
        .poll(() => card.locator(".thumbs img").evaluateAll((imgs) => imgs.map((i) => i.getAttribute("src") ?? "")), { timeout: 20_000 })
        .toEqual(Array(3).fill(expect.stringContaining(`/candidates/${picked}/`)))
      // Approving publishes the picked candidate, not the default one.
      const pickedFile = (await json(`${base}/api/ideas/${pending.ideaId}/generations`)).generations[0].candidates.find((c: any) => c.candidateId === picked).printFileUrl
      expect((await fetch(`${base}/api/ideas/${pending.ideaId}/approve`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200)
      const exported = join(dir, "blobs", "published-assets", "export", pending.ideaId, "print.png")
      await waitFor("the approved pick is exported", async () => existsSync(exported), 60_000)
      expect(readFileSync(exported).equals(readFileSync(join(dir, "blobs", decodeURIComponent(pickedFile.slice("/blobs/".length)))))).toBe(true)
      // Refine, and watch it live: no reload from here on (the marker would be gone).
      const firstGeneration = (await json(`${base}/api/ideas/${pending.ideaId}/generations`)).generations[0].generationId
      await page.evaluate("window.__sameDocument = true")
      await card.getByLabel("Refinement instruction").fill("more retro")
      await card.getByRole("button", { name: "Refine" }).click()
      // The refinement's own progress bars appear on the card, one per candidate, and end with the mock-ups stored.
      const refinedRows = card.locator(`[data-testid="generation-progress"] .gen-row:not([data-generation="${firstGeneration}"])`)
      await expect.poll(() => refinedRows.count(), { timeout: 180_000 }).toBe(CANDIDATES)
      expect(await refinedRows.first().locator('[role="progressbar"]').isVisible()).toBe(true)
      await expect.poll(() => refinedRows.evaluateAll((rows) => rows.map((r) => r.getAttribute("data-phase"))), { timeout: 180_000 }).toEqual(Array(CANDIDATES).fill("mocked-up"))
      await expect.poll(() => card.locator(".generation").count(), { timeout: 60_000 }).toBe(2)
      const refinedFigures = card.locator(".generation").nth(1).locator("figure.candidate")
      await expect.poll(() => refinedFigures.count(), { timeout: 60_000 }).toBe(CANDIDATES)
      const head = await card.locator(".generation").nth(1).getByTestId("generation-head").textContent()
      expect(head).toContain("more retro")
      expect(head).toContain("of generation 1")
      // The new candidates show their mock-ups (not the bare print file), loaded, with their checks.
      const mockupSrc = /^\/blobs\/generated-mockups\/[0-9a-f-]{36}\/candidates\/[0-9a-f-]{36}\/front-(black|white)\.jpg$/
      await expect
        .poll(() => refinedFigures.locator("img").evaluateAll((imgs) => imgs.map((i) => i.getAttribute("src") ?? "")), { timeout: 60_000 })
        .toEqual(Array(CANDIDATES).fill(expect.stringMatching(mockupSrc)))
      await refinedFigures.last().scrollIntoViewIfNeeded()
      await expect
        .poll(() => refinedFigures.locator("img").evaluateAll((imgs) => imgs.every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0)), { timeout: 30_000 })
        .toBe(true)
      expect(await refinedFigures.first().locator("figcaption").textContent()).toMatch(/coverage \d+% · \d+ dpi/)
      // The reviewer's pick stays through the refinement.
      expect(await card.locator("figure.candidate.picked").getAttribute("data-candidate")).toBe(picked)
      expect(await card.locator("figure.candidate.picked .tag").textContent()).toBe("your pick")
      expect(await page.evaluate("window.__sameDocument")).toBe(true)
      await page.screenshot({ path: join(SHOTS, "e2e-comfyui-candidates.png"), fullPage: true })
      const after = await json(`${base}/api/ideas/${pending.ideaId}/generations`)
      expect(after.generations[1].parentId).toBe(after.generations[0].generationId)
      expect(after.generations[1].instruction).toBe("more retro")
      expect([after.pickedCandidateId, after.pickedBy]).toEqual([picked, "reviewer"])
      // The idea's card shows the reviewer's pick: its print file and its mock-ups.
      const card2 = ((await json(`${base}/api/ideas?limit=100`)).ideas as Array<any>).find((i) => i.ideaId === pending.ideaId)
      expect(card2.printFileUrl).toBe(pickedFile)
      expect(card2.mockups.map((m: any) => m.url)).toEqual([expect.stringContaining(`/candidates/${picked}/`), expect.stringContaining(`/candidates/${picked}/`)])
      // Refining the same parent with the same words again queues nothing new.
      const again = await fetch(`${base}/api/ideas/${pending.ideaId}/refine`, {
        method: "POST",
        headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ instruction: "more retro" })
      })
      expect(again.status).toBe(200)
      expect((await fetch(`${base}/api/ideas/${pending.ideaId}/refine`, { method: "POST", body: "{}" })).status).toBe(401)
      expect(fake.submissions.size).toBe(IDEAS * CANDIDATES + CANDIDATES)
    } finally {
      await browser.close()
    }
    const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)))
    child.kill("SIGTERM")
    expect(await exited).toBe(0)
  }, 600_000)
})
