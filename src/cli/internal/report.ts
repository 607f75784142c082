/**
 * The demo's report as a file: an SVG chart of attempts per second (served, refused with
 * 429, failed) against the quota, with the limiter's queue depth; or an HTML page holding
 * that chart and the summary tables. Self-contained: no scripts, no external assets.
 *
 * @internal
 */
import { niceCeiling } from "./chart.js"
import type { Timeline } from "./timeline.js"

export interface ReportTable {
  readonly title: string
  readonly headers: ReadonlyArray<string>
  readonly rows: ReadonlyArray<ReadonlyArray<string>>
}

export interface Report {
  readonly title: string
  /** One line under the title: what was run. */
  readonly subtitle: string
  readonly timeline: Timeline
  /** Requests per second the quota allows. */
  readonly quotaPerSecond: number
  readonly tables: ReadonlyArray<ReportTable>
  readonly notes: ReadonlyArray<string>
}

export type ReportFormat = "svg" | "html"

/** The format a file name asks for, from its extension. */
export const formatOf = (path: string): ReportFormat | undefined => {
  const lower = path.toLowerCase()
  if (lower.endsWith(".svg")) return "svg"
  if (lower.endsWith(".html") || lower.endsWith(".htm")) return "html"
  return undefined
}

const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;")

const colors = { served: "#2f6fdf", refused: "#d62d2d", failed: "#f08c1a", quota: "#222", queued: "#888" }

const width = 880
const height = 380
const margin = { top: 48, right: 64, bottom: 56, left: 56 }

/** The chart as a standalone SVG document. */
export const renderSvg = (report: Pick<Report, "title" | "timeline" | "quotaPerSecond">): string => {
  const { timeline } = report
  const buckets = timeline.served.length
  const plotWidth = width - margin.left - margin.right
  const plotHeight = height - margin.top - margin.bottom
  const totals = timeline.served.map((served, i) => served + (timeline.refused[i] ?? 0) + (timeline.failed[i] ?? 0))
  const top = niceCeiling(Math.max(...totals, report.quotaPerSecond * 1.2) / timeline.bucketSeconds)
  const queueTop = niceCeiling(Math.max(1, ...timeline.queued))
  const slot = plotWidth / Math.max(1, buckets)
  const x = (bucket: number) => margin.left + bucket * slot
  const y = (perSecond: number) => margin.top + plotHeight * (1 - perSecond / top)
  const yQueue = (queued: number) => margin.top + plotHeight * (1 - queued / queueTop)
  const bar = (bucket: number, from: number, count: number, color: string) => {
    if (count <= 0) return ""
    const perSecond = (n: number) => n / timeline.bucketSeconds
    return `<rect x="${(x(bucket) + slot * 0.1).toFixed(1)}" y="${y(perSecond(from + count)).toFixed(1)}" width="${
      (slot * 0.8).toFixed(1)
    }" height="${(y(perSecond(from)) - y(perSecond(from + count))).toFixed(1)}" fill="${color}"/>`
  }
  const bars = timeline.served.flatMap((served, i) => {
    const refused = timeline.refused[i] ?? 0
    return [
      bar(i, 0, served, colors.served),
      bar(i, served, refused, colors.refused),
      bar(i, served + refused, timeline.failed[i] ?? 0, colors.failed)
    ]
  })
  const queueLine = timeline.queued.map((queued, i) => `${(x(i) + slot / 2).toFixed(1)},${yQueue(queued).toFixed(1)}`).join(" ")
  const yTicks = [0, 0.25, 0.5, 0.75, 1].map((f) => top * f)
  const xEvery = Math.max(1, Math.ceil(buckets / 12))
  const xTicks = Array.from({ length: Math.ceil(buckets / xEvery) + 1 }, (_, i) => i * xEvery).filter((b) => b <= buckets)
  const legend = [
    ["served", colors.served],
    ["429", colors.refused],
    ["failed", colors.failed],
    ["quota", colors.quota],
    ["limiter queue (right axis)", colors.queued]
  ]
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${margin.left}" y="22" font-size="15" font-weight="600">${escape(report.title)}</text>`,
    ...yTicks.map((tick) =>
      `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(tick).toFixed(1)}" y2="${y(tick).toFixed(1)}" stroke="#eee"/>` +
      `<text x="${margin.left - 6}" y="${(y(tick) + 4).toFixed(1)}" text-anchor="end">${Number(tick.toFixed(1))}</text>`
    ),
    ...bars,
    `<line x1="${margin.left}" x2="${width - margin.right}" y1="${y(report.quotaPerSecond).toFixed(1)}" y2="${
      y(report.quotaPerSecond).toFixed(1)
    }" stroke="${colors.quota}" stroke-dasharray="6 4" stroke-width="1.5"/>`,
    `<polyline points="${queueLine}" fill="none" stroke="${colors.queued}" stroke-width="1.5"/>`,
    `<line x1="${margin.left}" x2="${margin.left}" y1="${margin.top}" y2="${height - margin.bottom}" stroke="#333"/>`,
    `<line x1="${margin.left}" x2="${width - margin.right}" y1="${height - margin.bottom}" y2="${height - margin.bottom}" stroke="#333"/>`,
    ...xTicks.map((bucket) =>
      `<text x="${x(bucket).toFixed(1)}" y="${height - margin.bottom + 16}" text-anchor="middle">${
        bucket * timeline.bucketSeconds
      }s</text>`
    ),
    `<text x="${width - margin.right + 8}" y="${margin.top + 4}" fill="${colors.queued}">${queueTop}</text>`,
    `<text x="${width - margin.right + 8}" y="${height - margin.bottom + 4}" fill="${colors.queued}">0</text>`,
    `<text x="14" y="${margin.top + plotHeight / 2}" transform="rotate(-90 14 ${margin.top + plotHeight / 2})" text-anchor="middle">attempts per second</text>`,
    ...legend.map(([label, color], i) =>
      `<rect x="${margin.left + i * 150}" y="${height - 22}" width="12" height="12" fill="${color}"/>` +
      `<text x="${margin.left + i * 150 + 18}" y="${height - 12}">${escape(label ?? "")}</text>`
    ),
    `</svg>`
  ].join("\n")
}

const htmlTable = (table: ReportTable) =>
  [
    `<h2>${escape(table.title)}</h2>`,
    "<table>",
    `<tr>${table.headers.map((header) => `<th>${escape(header)}</th>`).join("")}</tr>`,
    ...table.rows.map((row) => `<tr>${row.map((cell) => `<td>${escape(cell)}</td>`).join("")}</tr>`),
    "</table>"
  ].join("\n")

/** A standalone HTML page: the chart, then the tables and notes. */
export const renderHtml = (report: Report): string =>
  [
    "<!doctype html>",
    `<html lang="en"><head><meta charset="utf-8"><title>${escape(report.title)}</title>`,
    "<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin-bottom:1em}" +
    "th,td{border:1px solid #ccc;padding:4px 10px;text-align:left}td{font-variant-numeric:tabular-nums}h2{font-size:1.1em}</style>",
    "</head><body>",
    `<h1>${escape(report.title)}</h1>`,
    `<p>${escape(report.subtitle)}</p>`,
    renderSvg(report),
    ...report.tables.map(htmlTable),
    ...(report.notes.length === 0 ? [] : ["<ul>", ...report.notes.map((note) => `<li>${escape(note)}</li>`), "</ul>"]),
    "</body></html>",
    ""
  ].join("\n")

/** The file's content in the format its name asks for. */
export const render = (report: Report, format: ReportFormat): string =>
  format === "svg" ? `${renderSvg(report)}\n` : renderHtml(report)
