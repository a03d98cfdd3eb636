import { describe, expect, it } from "vitest"
import fc from "fast-check"
import { Schema } from "effect"
import { contentHash, normalizeSignal, normalizeText, purgePii } from "../operators/ingest/normalize.ts"
import { Signal } from "../operators/schemas.ts"
import { PermanentError } from "../runtime/errors.ts"

const signal = (content: string, extra: Partial<Signal> = {}): Signal => ({
  source: "reddit",
  sourceId: "t3_abc",
  content,
  capturedAt: "2026-11-22T10:00:00Z",
  engagement: {},
  tags: [],
  metadata: {},
  ...extra
})

describe("normalizeText", () => {
  it.each([
    ["Ｆｕｌｌｗｉｄｔｈ　ＴＥＸＴ", "Fullwidth TEXT"],
    ["ﬁne ligature", "fine ligature"],
    ["𝐁𝐨𝐥𝐝 𝓈𝒸𝓇𝒾𝓅𝓉 font", "Bold script font"],
    ["  lots \t of\n\n  space  ", "lots of space"],
    ["non\u00a0breaking\u2003em\u3000ideographic", "non breaking em ideographic"],
    ["zero\u200bwidth\u200c join\u2060er\ufeff", "zerowidth joiner"],
    ["soft\u00adhyphen", "softhyphen"],
    ["bidi \u202eoverride\u202c and \u2066isolate\u2069", "bidi override and isolate"],
    ["bell\u0007 and escape\u001b[31m", "bell and escape[31m"],
    ["C1\u0085control\u009f", "C1control"],
    ["Tom &amp; Jerry", "Tom & Jerry"],
    ["&lt;b&gt;bold&lt;/b&gt;", "<b>bold</b>"],
    ["It&#39;s &quot;fine&quot;", `It's "fine"`],
    ["It&apos;s &#x27;hex&#X27;", "It's 'hex'"],
    ["double &amp;amp; &amp;#39;escaped&amp;#39;", "double & 'escaped'"],
    ["dash &mdash; and &ndash; and &hellip;", "dash \u2014 and \u2013 and ..."],
    ["&ldquo;smart&rdquo; &lsquo;quotes&rsquo;", "\u201csmart\u201d \u2018quotes\u2019"],
    ["price&nbsp;&euro;5", "price \u20ac5"],
    ["5&times;7 print", "5\u00d77 print"],
    ["Caf&eacute;", "Caf\u00e9"],
    ["unknown &bogus; entity &#0; &#xD800; &#99999999;", "unknown &bogus; entity &#0; &#xD800; &#99999999;"],
    ["AT&T and R&D stay", "AT&T and R&D stay"],
    ["Cafe\u0301 composed", "Caf\u00e9 composed"],
    ["™ and ① and x²", "TM and 1 and x2"]
  ])("%j -> %j", (input, expected) => {
    expect(normalizeText(input)).toBe(expected)
  })

  it("keeps emoji, including ZWJ sequences, and drops a stray ZWJ", () => {
    expect(normalizeText("family 👨\u200d👩\u200d👧 time")).toBe("family 👨\u200d👩\u200d👧 time")
    expect(normalizeText("heart ❤\ufe0f\u200d🔥 on fire")).toBe("heart ❤\ufe0f\u200d🔥 on fire")
    expect(normalizeText("hid\u200dden")).toBe("hidden")
    expect(normalizeText("🏳️\u200d🌈 pride")).toBe("🏳️\u200d🌈 pride")
  })

  it("keeps non-Latin scripts", () => {
    expect(normalizeText("Grüße aus München — ¡Olé! 日本語のテキスト Привет")).toBe("Grüße aus München — ¡Olé! 日本語のテキスト Привет")
  })

  it("is idempotent", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (s) => {
        const once = normalizeText(s)
        expect(normalizeText(once)).toBe(once)
      }),
      { numRuns: 2_000 }
    )
  })

  it("never leaves control characters, zero-width characters or runs of whitespace", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 80 }), (s) => {
        const out = normalizeText(s)
        expect(out).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b\u200c\u2060\ufeff]/)
        expect(out).not.toMatch(/\s\s|^\s|\s$/u)
      }),
      { numRuns: 2_000 }
    )
  })
})

describe("purgePii", () => {
  describe("e-mail addresses", () => {
    it.each([
      ["Contact me at jane.doe@example.com for prints", "Contact me at [email] for prints"],
      ["Business: Andrew.Graham+shop@caa.co.uk!", "Business: [email]!"],
      ["mail me: 8585@ytn.co.kr, #2424", "mail me: [email], #2424"],
      ["(licensing@viralhog.com)", "([email])"],
      ["write to josé.müller@exämple.de", "write to [email]"],
      ["jane [at] example [dot] com", "[email]"],
      ["jane(at)example(dot)co(dot)uk please", "[email] please"],
      ["two: a@b.io and c.d@e-f.org", "two: [email] and [email]"]
    ])("%j", (input, expected) => expect(purgePii(input)).toBe(expected))
  })

  describe("phone numbers", () => {
    it.each([
      ["Call us: 405-459-7466", "Call us: [phone]"],
      ["Call (555) 123-4567 today", "Call [phone] today"],
      ["call 555.123.4567", "call [phone]"],
      ["reach 555 123 4567 now", "reach [phone] now"],
      ["Toll free 1-800-555-0199", "Toll free [phone]"],
      ["US: +1 (555) 123-4567", "US: [phone]"],
      ["US: +1-555-123-4567.", "US: [phone]."],
      ["UK office +44 20 7946 0958", "UK office [phone]"],
      ["UK mobile 07700 900123", "UK mobile [phone]"],
      ["London 020 7946 0958", "London [phone]"],
      ["Paris +33 1 23 45 67 89", "Paris [phone]"],
      ["Paris +33 (0)1 23 45 67 89", "Paris [phone]"],
      ["portable 06 12 34 56 78", "portable [phone]"],
      ["Berlin +49 30 12345678", "Berlin [phone]"],
      ["Berlin 030/12345678", "Berlin [phone]"],
      ["Handy 0171 1234567", "Handy [phone]"],
      ["0049 30 1234567 anrufen", "[phone] anrufen"],
      ["India +91 98765 43210", "India [phone]"],
      ["Sydney +61 2 9876 5432", "Sydney [phone]"],
      ["NL 06-12345678", "NL [phone]"],
      ["text me at 5551234567", "text me at [phone]"],
      ["WhatsApp: +447700900123", "WhatsApp: [phone]"],
      ["tel. 555-1234", "tel. [phone]"],
      ["Phone: 123 4567", "Phone: [phone]"],
      ["hotline +44 20 7946 0958 2024 edition", "hotline [phone] 2024 edition"]
    ])("%j", (input, expected) => expect(purgePii(input)).toBe(expected))
  })

  describe("street addresses", () => {
    it.each([
      ["Visit us at 1600 Pennsylvania Avenue NW, Washington", "Visit us at [address], Washington"],
      ["221B Baker Street is famous", "[address] is famous"],
      ["Shop at 350 5th Ave, New York", "Shop at [address], New York"],
      ["Send to 24307 Magic Mountain Pkwy Box #617", "Send to [address] Box #617"],
      ["office at 90 Bedford St. Suite 4B, NYC", "office at [address], NYC"],
      ["meet at 42 Elm Rd tonight", "meet at [address] tonight"],
      ["lives on 12 Oak Lane", "lives on [address]"],
      ["address: 1 Infinite Loop Way", "address: [address]"],
      ["gig at 100 N Main Street", "gig at [address]"],
      ["ALL CAPS 742 EVERGREEN TERRACE", "ALL CAPS [address]"],
      ["Fan mail: P.O. Box 10246 Burbank, CA 91510", "Fan mail: [address] Burbank, CA 91510"],
      ["lowercase 123 main st apt 5", "lowercase [address]"],
      ["12 rue de Rivoli, Paris", "[address], Paris"],
      ["Hauptstraße 5, Berlin", "[address], Berlin"],
      ["Lindenstr. 12a", "[address]"]
    ])("%j", (input, expected) => expect(purgePii(input)).toBe(expected))
  })

  describe("user handles", () => {
    it.each([
      ["thanks @someone!", "thanks [handle]!"],
      ["shoutout to @the_real.artist.", "shoutout to [handle]."],
      ["(@User123) said", "([handle]) said"],
      ["posted by u/ICumCoffee", "posted by [handle]"],
      ["Tip of the cap /u/some-user**", "Tip of the cap [handle]**"],
      ["follow @alice@mastodon.social", "follow [handle]"],
      ["IG: @cakes_by_jo / TikTok: @cakesbyjo", "IG: [handle] / TikTok: [handle]"]
    ])("%j", (input, expected) => expect(purgePii(input)).toBe(expected))
  })

  describe("leaves alone", () => {
    it.each([
      "Best of 2024: the year in review",
      "From 1999 to 2024, 25 years of memes",
      "The 2019-2023 seasons",
      "2023-24 season preview",
      "Final score 10-3, then 3-2 and 102-99 in OT",
      "Lakers win 117-112 on 2024-01-15",
      "Now $1,299.99, was $1,499",
      "Only €19.99 or 1.299,00 € or £5",
      "Doors 10:30-11:45, show at 7pm",
      "Dates: 01/15/2024, 15.01.2024 and 2024/01/15",
      "iOS 17.4.1 and v1.2.3 released",
      "ISO 9001:2015 certified",
      "RTX 4090 vs RX 7900 XTX",
      "iPhone 15 Pro Max 256 GB",
      "5,000,000 views in 24 hours",
      "1 000 000 de vues",
      "Pi is 3.14159265358979",
      "Top 10 2024 movies",
      "Route 66 road trip",
      "Highway 101 traffic",
      "ages 3-5 and 6-8",
      "20-30% off everything",
      "#hashtag #2024goals #NYC",
      "r/funny and r/AskReddit",
      "me @ home, see you @ 5",
      "see you @5pm",
      "C@t and R&D and AT&T",
      "$AAPL hits 200",
      "https://www.reddit.com/u/someone/comments/123 and https://example.com/@artist",
      "call 911 now",
      "Call of Duty 2024",
      "10 Cute St. Patrick's Day Shirts",
      "5 St Patrick's day designs",
      "All 9 Supreme Court justices push back",
      "4 Wheel Drive trucks and 2 TB Hard Drive deals",
      "3 Ways Wall Street Is Wrong",
      "10 Best Road Trip Ideas",
      "I ran 5 miles down the road",
      "2 lane road ahead",
      "Best of 2024 Main Street Parade",
      "Order #123456789 shipped",
      "Windows 11 build 22631.3296",
      "IP 192.168.0.1 and 255.255.255.0",
      "ISBN 978-3-16-148410-0",
      "Tweet 1700000000000000000 went viral",
      "W 10-3 L 3-10 T 0-0",
      "flight BA 2490 at 08:15",
      "1080p 60fps 4K HDR",
      "Get 3 for 2 on prints"
    ])("%j", (input) => expect(purgePii(input)).toBe(input))
  })

  it("purges inside a longer post, once per item, leaving the rest", () => {
    const input =
      "Giveaway!!! DM @shop_owner or email orders@shop.example, call +1 (555) 010-4477, pick up at 77 Sunset Blvd. Prices from $19.99, ends 12/31/2025."
    expect(purgePii(input)).toBe(
      "Giveaway!!! DM [handle] or email [email], call [phone], pick up at [address]. Prices from $19.99, ends 12/31/2025."
    )
  })

  it("is idempotent, so a normalized signal keeps its hash", () => {
    const piece = fc.constantFrom(
      "call", "555-123-4567", "+44 20 7946 0958", "@bob", "u/someone", "me@example.com", "42", "Main", "Street", "St.",
      "Apt 4", "2024", "$5", "10-3", "#tag", "r/pics", "and", "P.O. Box 12", "rue", "de", "Rivoli", "Hauptstraße", "7"
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), (pieces) => {
        const once = purgePii(pieces.join(" "))
        expect(purgePii(once)).toBe(once)
      }),
      { numRuns: 2_000 }
    )
  })

  it("leaves text without PII unchanged (random words and numbers)", () => {
    const word = fc.constantFrom("sale", "2024", "10-3", "$5", "4K", "#tee", "r/pics", "cats", "v2.1", "12:30", "50%", "Top", "New")
    fc.assert(
      fc.property(fc.array(word, { maxLength: 12 }), (words) => {
        const text = words.join(" ")
        expect(purgePii(text)).toBe(text)
      }),
      { numRuns: 1_000 }
    )
  })
})

describe("contentHash", () => {
  it("is 32 lowercase hex characters", () => {
    expect(contentHash(signal("Hello world"))).toMatch(/^[0-9a-f]{32}$/)
  })

  it("is the same for the same headline from two sources, whatever the formatting", () => {
    const a = signal("Taylor Swift &amp; Travis Kelce   announce tour", { source: "reddit", sourceId: "1" })
    const b = signal("taylor swift & travis kelce announce tour\u200b", { source: "rss", sourceId: "https://x/y", tags: ["music"] })
    const c = signal("ＴＡＹＬＯＲ SWIFT & TRAVIS KELCE ANNOUNCE TOUR", { source: "hackernews", sourceId: "9" })
    expect(contentHash(a)).toBe(contentHash(b))
    expect(contentHash(a)).toBe(contentHash(c))
  })

  it("ignores which person's PII is in the text", () => {
    expect(contentHash(signal("Ask @alice about the cat shirt"))).toBe(contentHash(signal("Ask @bob about the cat shirt")))
  })

  it("differs for different content", () => {
    expect(contentHash(signal("Cat shirt"))).not.toBe(contentHash(signal("Dog shirt")))
  })
})

describe("normalizeSignal", () => {
  it("normalizes content, tags and metadata strings and sets contentHash", () => {
    const input = signal("  New &amp; trending:\u200b cat memes  — ask u/catlover ", {
      tags: ["#Cats", " cats ", "MEMES", "##memes", "", "  ", "#", "@catlover", "Café"],
      metadata: {
        author: "@catlover",
        flair: "Ｆｕｎｎｙ",
        nested: { contact: "me@example.com", list: ["call 555-123-4567", 3] },
        score: 12,
        ok: true,
        none: null
      }
    })
    const out = normalizeSignal(input)
    expect(out.content).toBe("New & trending: cat memes — ask [handle]")
    expect(out.tags).toEqual(["cats", "memes", "café"])
    expect(out.metadata).toEqual({
      author: "[handle]",
      flair: "Funny",
      nested: { contact: "[email]", list: ["call [phone]", 3] },
      score: 12,
      ok: true,
      none: null
    })
    expect(out.contentHash).toBe(contentHash(input))
    expect(out.source).toBe("reddit")
    expect(out.sourceId).toBe("t3_abc")
    expect(Schema.is(Signal)(out)).toBe(true)
  })

  it("is idempotent and keeps the hash", () => {
    const once = normalizeSignal(signal("Hello &amp; bye @x_y", { tags: ["#A", "a"] }))
    expect(normalizeSignal(once)).toEqual(once)
  })

  it("fails permanently, naming the field, when nothing visible is left", () => {
    expect(() => normalizeSignal(signal("\u200b\u200b \u00ad"))).toThrow(PermanentError)
    expect(() => normalizeSignal(signal("\u200b"))).toThrow(/content/)
  })
})
