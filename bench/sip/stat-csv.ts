// SIPp's statistics file (-trace_stat -stf FILE -fd 250ms): a header row of `;`-separated
// column names, then one row per period with periodic (P) and cumulative (C) counters. Pure
// over the file's text, so a half-written last line (SIPp appends while we read) is skipped.

/** The columns of one row that the benchmark uses. */
export interface StatRow {
  /** CurrentTime, as Unix seconds (its third tab-separated part). */
  at: number;
  /** CallRate(C): calls created per second since the start. */
  callRate: number;
  /** TotalCallCreated: calls this SIPp has started (a caller) or accepted (an answerer). */
  created: number;
  /** CurrentCall: calls open at the time of the row (set-up, hold, BYE, or time-wait). */
  current: number;
  successful: number;
  failed: number;
  retransmissions: number;
}

const COLUMNS = {
  callRate: "CallRate(C)",
  created: "TotalCallCreated",
  current: "CurrentCall",
  successful: "SuccessfulCall(C)",
  failed: "FailedCall(C)",
  retransmissions: "Retransmissions(C)",
} as const;

/** Every complete row of the file, oldest first; [] when the header is not there yet. */
export function parseStat(text: string): StatRow[] {
  const lines = text.split("\n");
  // The last element is a partial line (or "" after the final newline): never a whole row.
  lines.pop();
  const header = lines[0]?.split(";");
  if (header === undefined) return [];
  const index = (name: string) => header.indexOf(name);
  const at = index("CurrentTime");
  const idx = Object.fromEntries(Object.entries(COLUMNS).map(([k, name]) => [k, index(name)])) as Record<
    keyof typeof COLUMNS,
    number
  >;
  if (at < 0 || Object.values(idx).some((i) => i < 0)) return [];
  const rows: StatRow[] = [];
  for (const line of lines.slice(1)) {
    const f = line.split(";");
    const num = (i: number) => Number(f[i] ?? Number.NaN);
    const row: StatRow = {
      at: Number((f[at] ?? "").split("\t")[2] ?? Number.NaN),
      callRate: num(idx.callRate),
      created: num(idx.created),
      current: num(idx.current),
      successful: num(idx.successful),
      failed: num(idx.failed),
      retransmissions: num(idx.retransmissions),
    };
    if (Object.values(row).every(Number.isFinite)) rows.push(row);
  }
  return rows;
}
