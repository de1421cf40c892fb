// A node:test reporter that writes one JSON line per finished test (not suites).
export default async function* countingReporter(source) {
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const d = event.data;
    if (d.details?.type === "suite") {
      // A suite failing outside its tests (a hook) is a failure of its own.
      if (event.type === "test:fail" && d.details?.error?.failureType === "hookFailed") {
        yield `${JSON.stringify({ kind: "fail", name: d.name })}\n`;
      }
      continue;
    }
    // A file that crashed is reported as a failed test at nesting 0 named after the file.
    const kind =
      d.skip !== undefined || d.todo !== undefined ? "skip" : event.type === "test:pass" ? "pass" : "fail";
    yield `${JSON.stringify({ kind, name: d.name })}\n`;
  }
}
