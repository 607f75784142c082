/**
 * A bar chart for the terminal: one bar per time bucket, eighth-block resolution, a dashed
 * reference line (the quota) and a row of counts under the axis (the 429s).
 *
 * @internal
 */

export interface BarChartOptions {
  /** One value per bucket (e.g. answers per second, for each second). */
  readonly values: ReadonlyArray<number>
  /** Seconds each value covers. */
  readonly bucketSeconds: number
  /** A horizontal line drawn behind the bars, e.g. the quota. */
  readonly reference?: { readonly value: number; readonly label: string } | undefined
  /** Counts shown under the axis, one per bucket (same length as `values`). */
  readonly marks?: { readonly values: ReadonlyArray<number>; readonly label: string } | undefined
  /** Rows of bars. Default 8. */
  readonly height?: number | undefined
  /** Columns of the plot area (the axis labels come on top). Default 60. */
  readonly width?: number | undefined
}

const eighths = [" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]

/** A round number at or above `value`, so that the axis reads well: 1, 2, 2.5, 5 x 10^n. */
export const niceCeiling = (value: number): number => {
  if (!(value > 0)) return 1
  const magnitude = 10 ** Math.floor(Math.log10(value))
  const step = [1, 2, 2.5, 5, 10].find((factor) => factor * magnitude >= value) ?? 10
  return step * magnitude
}

/**
 * Merge adjacent buckets until the chart fits in `width` columns. Values are rates, so a
 * merged bucket holds their mean; marks are counts, so they add up.
 */
const fit = (options: BarChartOptions, width: number) => {
  const merge = Math.max(1, Math.ceil(options.values.length / width))
  const groups = Math.ceil(options.values.length / merge)
  const slice = (values: ReadonlyArray<number>, group: number) => values.slice(group * merge, (group + 1) * merge)
  const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)
  const marks = options.marks?.values
  return {
    values: Array.from({ length: groups }, (_, g) => {
      const part = slice(options.values, g)
      return part.length === 0 ? 0 : sum(part) / part.length
    }),
    marks: marks === undefined ? undefined : Array.from({ length: groups }, (_, g) => sum(slice(marks, g))),
    bucketSeconds: options.bucketSeconds * merge
  }
}

const markChar = (count: number) => (count <= 0 ? " " : count < 10 ? String(count) : "+")

const formatValue = (value: number) => (Number.isInteger(value) ? String(value) : value.toFixed(1))

/** The chart's lines, ready to print. An empty series gives a single line saying so. */
export const renderBarChart = (options: BarChartOptions): ReadonlyArray<string> => {
  if (options.values.length === 0) return ["(no data)"]
  const height = options.height ?? 8
  const width = options.width ?? 60
  const fitted = fit(options, width)
  // Wide bars for short series, so that a 15-second run does not shrink to 15 columns.
  const barWidth = Math.max(1, Math.min(3, Math.floor(width / fitted.values.length)))
  const top = niceCeiling(Math.max(...fitted.values, (options.reference?.value ?? 0) * 1.2))
  const perRow = top / height
  const referenceRow = options.reference === undefined ? -1 : Math.min(height - 1, Math.floor(options.reference.value / perRow))
  const labels = new Map<number, string>([[height - 1, formatValue(top)]])
  if (options.reference !== undefined) labels.set(referenceRow, formatValue(options.reference.value))
  const labelWidth = Math.max(...[...labels.values(), "0"].map((label) => label.length))

  const lines: Array<string> = []
  for (let row = height - 1; row >= 0; row--) {
    const cells = fitted.values.map((value) => {
      const filled = Math.round(Math.max(0, Math.min(1, (value - row * perRow) / perRow)) * 8)
      const cell = filled === 0 && row === referenceRow ? "╌" : eighths[filled] ?? " "
      return cell.repeat(barWidth)
    })
    const label = (labels.get(row) ?? "").padStart(labelWidth)
    const legend = row === referenceRow && options.reference !== undefined ? `  ${options.reference.label}` : ""
    lines.push(`${label} ┤${cells.join("")}${legend}`)
  }
  const plotWidth = fitted.values.length * barWidth
  lines.push(`${"0".padStart(labelWidth)} └${"─".repeat(plotWidth)}`)
  lines.push(`${" ".repeat(labelWidth + 2)}${timeAxis(fitted.values.length, barWidth, fitted.bucketSeconds)}`)
  if (fitted.marks !== undefined && options.marks !== undefined) {
    lines.push(
      `${" ".repeat(labelWidth + 2)}${fitted.marks.map((count) => markChar(count).padEnd(barWidth)).join("")}  ${options.marks.label}`
    )
  }
  return lines
}

/** Second labels every ten columns or so: `0s        5s        10s`. */
const timeAxis = (buckets: number, barWidth: number, bucketSeconds: number): string => {
  const every = Math.max(1, Math.ceil(10 / barWidth))
  let axis = ""
  for (let bucket = 0; bucket < buckets; bucket += every) {
    const label = `${formatValue(bucket * bucketSeconds)}s`
    const at = bucket * barWidth
    if (axis.length > at) continue
    axis = axis.padEnd(at) + label
  }
  return axis
}
