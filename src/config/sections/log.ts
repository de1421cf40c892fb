import { FACILITIES, parseSyslogTarget } from "../../core/syslog-target.ts";
import type { SnapshotContext } from "../context.ts";
import type { RawConfig } from "../schema.ts";
import type { LogSettings } from "../types.ts";

export function buildLog(raw: RawConfig["log"], ctx: SnapshotContext): LogSettings {
  let syslog: LogSettings["syslog"];
  if (raw?.syslog !== undefined) {
    const t = parseSyslogTarget(raw.syslog);
    if (typeof t === "string") ctx.fail(["log", "syslog"], t);
    else syslog = t;
  }
  const facilityName = raw?.syslog_facility ?? "local0";
  const facility = FACILITIES[facilityName];
  if (facility === undefined) {
    ctx.fail(
      ["log", "syslog_facility"],
      `unknown facility "${facilityName}" (${Object.keys(FACILITIES).join(", ")})`,
    );
  }
  return { level: raw?.level ?? "info", syslog, syslogFacility: facility ?? 16 };
}
