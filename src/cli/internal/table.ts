/**
 * Tables for the terminal, drawn with box characters.
 *
 * @internal
 */

export interface Column {
  readonly header: string
  /** Numbers read best right-aligned. Default `left`. */
  readonly align?: "left" | "right" | undefined
}

const pad = (text: string, width: number, align: "left" | "right") =>
  align === "right" ? text.padStart(width) : text.padEnd(width)

/**
 * The lines of a table: a header row and a rule (unless `header` is false), then one line
 * per row. A row shorter than the columns is padded with empty cells.
 */
export const renderTable = (
  columns: ReadonlyArray<Column>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  options: { readonly header?: boolean } = {}
): ReadonlyArray<string> => {
  const header = options.header ?? true
  const widths = columns.map((column, i) => Math.max(header ? column.header.length : 0, ...rows.map((row) => (row[i] ?? "").length)))
  const rule = (left: string, middle: string, right: string) =>
    left + widths.map((width) => "─".repeat(width + 2)).join(middle) + right
  const line = (cells: ReadonlyArray<string>, isHeader: boolean) =>
    "│" +
    columns.map((column, i) => ` ${pad(cells[i] ?? "", widths[i] ?? 0, isHeader ? "left" : column.align ?? "left")} `).join("│") +
    "│"
  return [
    rule("┌", "┬", "┐"),
    ...(header ? [line(columns.map((column) => column.header), true), rule("├", "┼", "┤")] : []),
    ...rows.map((row) => line(row, false)),
    rule("└", "┴", "┘")
  ]
}
