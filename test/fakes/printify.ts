/**
 * Fake Printify API v1, after developers.printify.com: `Authorization: Bearer <personal access
 * token>` (401 `{"error": "Unauthenticated."}` otherwise); JSON bodies; `POST
 * /v1/uploads/images.json` (`file_name` + base64 `contents`); the catalog's variants of a
 * blueprint and print provider; `POST/GET /v1/shops/{shop_id}/products.json` (pages of
 * `{current_page, last_page, data}`, newest first; `created_at` as "YYYY-MM-DD HH:MM:SS+00:00");
 * `GET .../products/{id}.json`; `POST .../publish.json` (locks the product until the channel
 * answers: a connected channel at once, an API shop through `publishing_succeeded.json` /
 * `publishing_failed.json`); validation errors `{code, message: "Validation failed.", errors:
 * {reason, code}}` with 400; 429 past 600 requests per minute or 200 publishes per 30 minutes.
 */
import { randomBytes } from "node:crypto"
import { Effect } from "effect"
import { type Context, Hono } from "hono"
import { startFake } from "./server.ts"

export const TOKEN = "printify-fake-personal-access-token"
export const SHOP_ID = 9_100_001
export const BLUEPRINT_ID = 12
export const PRINT_PROVIDER_ID = 29
export const VARIANT_IDS = [18_100, 18_101, 18_102, 18_540, 18_541, 18_542]

export interface FakeProduct {
  id: string
  title: string
  description: string
  tags: Array<string>
  blueprint_id: number
  print_provider_id: number
  variants: Array<{ id: number; price: number; is_enabled: boolean }>
  print_areas: Array<unknown>
  created_at: string
  visible: boolean
  is_locked: boolean
  external: { id: string; handle: string } | null
}

const validation = (c: Context, reason: string, code = 8251) => c.json({ code, message: "Validation failed.", errors: { reason, code } }, 400)
const stamp = (d: Date) => d.toISOString().replace("T", " ").replace(/\.\d+Z$/, "+00:00")

export const startPrintifyFake = (options: { readonly salesChannel?: "etsy" | "custom_integration"; readonly publishesPer30Min?: number } = {}) =>
  Effect.gen(function* () {
    const channel = options.salesChannel ?? "custom_integration"
    const state = {
      uploads: new Map<string, { id: string; file_name: string; size: number }>(),
      products: new Map<string, FakeProduct>(),
      creates: [] as Array<string>,
      publishes: [] as Array<string>,
      minute: [] as Array<number>,
      publishWindow: [] as Array<number>,
      /** Requests whose work is done but whose answer is lost on the way back (a 502), once each. */
      loseNext: [] as Array<{ method: string; path: RegExp }>,
      /** Orders by id (Printify's Order object, the fields the feedback loop reads and a few more). */
      orders: new Map<string, { id: string; status: string; created_at: string; line_items: Array<{ product_id: string; variant_id: number; quantity: number; status: string; metadata: { title: string; price: number; variant_label: string; sku: string; country: string } }> }>()
    }
    const newId = () => randomBytes(12).toString("hex")
    const app = new Hono()

    app.use("/v1/*", async (c, next) => {
      if (c.req.header("authorization") !== `Bearer ${TOKEN}`) return c.json({ error: "Unauthenticated." }, 401)
      const now = Date.now()
      state.minute = state.minute.filter((t) => t > now - 60_000)
      if (state.minute.length >= 600) return c.json({ error: "Too Many Attempts." }, 429, { "retry-after": "60" })
      state.minute.push(now)
      if (c.req.method !== "GET" && !(c.req.header("content-type") ?? "").startsWith("application/json")) {
        return validation(c, "Request body must be JSON")
      }
      const forced = state.loseNext.findIndex((l) => l.method === c.req.method && l.path.test(c.req.path))
      if (forced >= 0) state.loseNext.splice(forced, 1)
      await next()
      if (forced >= 0 && c.res.status < 300) c.res = new Response(JSON.stringify({ error: "Bad Gateway" }), { status: 502, headers: { "content-type": "application/json" } })
    })

    const shopOk = (c: Context) => Number(c.req.param("shop_id")) === SHOP_ID

    app.post("/v1/uploads/images.json", async (c) => {
      const body = (await c.req.json().catch(() => ({}))) as { file_name?: string; contents?: string; url?: string }
      if (!body.file_name) return validation(c, "The file name field is required.")
      if (!body.contents && !body.url) return validation(c, "Either contents or url is required.")
      const bytes = Buffer.from(body.contents ?? "", "base64")
      if (body.contents && bytes.subarray(0, 8).toString("hex") !== "89504e470d0a1a0a" && bytes.subarray(0, 3).toString("hex") !== "ffd8ff") {
        return validation(c, "The file must be a PNG, JPEG or SVG image.", 8254)
      }
      const image = { id: newId(), file_name: body.file_name, size: bytes.length }
      state.uploads.set(image.id, image)
      return c.json({ ...image, height: 5400, width: 4500, mime_type: "image/png", preview_url: `https://images.printify.com/${image.id}`, upload_time: stamp(new Date()) })
    })

    app.get("/v1/catalog/blueprints/:bp/print_providers/:pp/variants.json", (c) =>
      Number(c.req.param("bp")) === BLUEPRINT_ID && Number(c.req.param("pp")) === PRINT_PROVIDER_ID
        ? c.json({ id: PRINT_PROVIDER_ID, title: "Monster Digital", variants: VARIANT_IDS.map((id, i) => ({ id, title: `${i < 3 ? "Black" : "White"} / ${["S", "M", "L"][i % 3]}`, options: {}, placeholders: [] })) })
        : c.json({ error: "Not found." }, 404)
    )

    app.post("/v1/shops/:shop_id/products.json", async (c) => {
      if (!shopOk(c)) return c.json({ error: "Shop not found." }, 404)
      type PrintArea = { variant_ids: Array<number>; placeholders: Array<{ position: string; images: Array<{ id: string }> }> }
      const body = (await c.req.json().catch(() => ({}))) as Omit<Partial<FakeProduct>, "print_areas"> & { print_areas?: Array<PrintArea> }
      if (!body.title) return validation(c, "The title field is required.")
      if (body.title.length > 100) return validation(c, "The title may not be greater than 100 characters.")
      if (body.blueprint_id !== BLUEPRINT_ID || body.print_provider_id !== PRINT_PROVIDER_ID) return validation(c, "The blueprint or print provider is not available.", 8150)
      const variants = body.variants ?? []
      if (variants.length === 0 || variants.some((v) => !VARIANT_IDS.includes(v.id))) return validation(c, "Variants are not valid for this blueprint and print provider.", 8152)
      if (variants.some((v) => !Number.isInteger(v.price) || v.price <= 0)) return validation(c, "Variant price must be a positive integer in cents.", 8153)
      const images = (body.print_areas ?? []).flatMap((a) => a.placeholders.flatMap((p) => p.images.map((i) => i.id)))
      if (images.length === 0 || images.some((id) => !state.uploads.has(id))) return validation(c, "Print areas must reference uploaded images.", 8160)
      const product: FakeProduct = {
        id: newId(),
        title: body.title,
        description: body.description ?? "",
        tags: body.tags ?? [],
        blueprint_id: body.blueprint_id,
        print_provider_id: body.print_provider_id,
        variants,
        print_areas: body.print_areas ?? [],
        created_at: stamp(new Date()),
        visible: false,
        is_locked: false,
        external: null
      }
      state.products.set(product.id, product)
      state.creates.push(product.id)
      return c.json(product)
    })

    app.get("/v1/shops/:shop_id/products.json", (c) => {
      if (!shopOk(c)) return c.json({ error: "Shop not found." }, 404)
      const limit = Math.min(50, Number(c.req.query("limit") ?? 10))
      const page = Math.max(1, Number(c.req.query("page") ?? 1))
      const all = [...state.products.values()].reverse()
      return c.json({ current_page: page, last_page: Math.max(1, Math.ceil(all.length / limit)), data: all.slice((page - 1) * limit, page * limit) })
    })

    app.get("/v1/shops/:shop_id/products/:file", (c) => {
      const product = state.products.get(c.req.param("file").replace(/\.json$/, ""))
      return shopOk(c) && product ? c.json(product) : c.json({ error: "Product not found." }, 404)
    })

    app.post("/v1/shops/:shop_id/products/:id/publish.json", (c) => {
      const product = state.products.get(c.req.param("id"))
      if (!shopOk(c) || !product) return c.json({ error: "Product not found." }, 404)
      const now = Date.now()
      state.publishWindow = state.publishWindow.filter((t) => t > now - 30 * 60_000)
      if (state.publishWindow.length >= (options.publishesPer30Min ?? 200)) return c.json({ error: "Too Many Attempts." }, 429, { "retry-after": "1800" })
      if (product.is_locked) return validation(c, "Product is locked while it is being published.", 8205)
      state.publishWindow.push(now)
      state.publishes.push(product.id)
      product.is_locked = true
      if (channel === "etsy") {
        // A connected channel answers Printify itself.
        product.is_locked = false
        product.visible = true
        product.external = { id: String(4_000_000 + state.publishes.length), handle: `https://www.etsy.com/listing/${4_000_000 + state.publishes.length}` }
      }
      return c.json({})
    })

    app.post("/v1/shops/:shop_id/products/:id/publishing_succeeded.json", async (c) => {
      const product = state.products.get(c.req.param("id"))
      if (!shopOk(c) || !product) return c.json({ error: "Product not found." }, 404)
      const body = (await c.req.json().catch(() => ({}))) as { external?: { id?: string; handle?: string } }
      if (!body.external?.id || !body.external.handle) return validation(c, "The external.id and external.handle fields are required.")
      product.external = { id: body.external.id, handle: body.external.handle }
      product.is_locked = false
      product.visible = true
      return c.json({})
    })

    app.post("/v1/shops/:shop_id/products/:id/publishing_failed.json", async (c) => {
      const product = state.products.get(c.req.param("id"))
      if (!shopOk(c) || !product) return c.json({ error: "Product not found." }, 404)
      const body = (await c.req.json().catch(() => ({}))) as { reason?: string }
      if (!body.reason) return validation(c, "The reason field is required.")
      product.is_locked = false
      return c.json({})
    })

    // Get order details: GET /v1/shops/{shop_id}/orders/{order_id}.json
    app.get("/v1/shops/:shop_id/orders/:file", (c) => {
      const order = state.orders.get(c.req.param("file").replace(/\.json$/, ""))
      if (!shopOk(c) || order === undefined) return c.json({ error: "Order not found." }, 404)
      return c.json({ ...order, address_to: { country: "US" }, shipping_method: 1, total_price: 2499, total_shipping: 499, total_tax: 0 })
    })

    const server = yield* startFake(app)
    return { ...server, apiUrl: `${server.url}/v1`, state }
  })
