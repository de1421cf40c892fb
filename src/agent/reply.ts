// Lead's interim version; the agent helper may replace it with the same API.
export interface AgentState {
  status: "UP" | "DOWN" | "READY" | "DRAIN" | "FAIL" | "MAINT" | "STOPPED";
  weight?: number;
  maxconn?: number;
}

export interface AgentReport {
  health?: "up" | "down" | "fail" | "stopped";
  admin?: "ready" | "drain" | "maint";
  weightPercent?: number;
  maxconn?: number;
  description?: string;
  errors: string[];
}

/**
 * The line our agent sends. HAProxy applies admin words before health, and `up` alone does
 * not clear a DRAIN or MAINT it set earlier (reference/agent-check.md), so every status says
 * its admin state explicitly.
 */
export function formatAgentReply(state: AgentState): string {
  const words: string[] = [];
  switch (state.status) {
    case "UP":
    case "READY":
      words.push("up", "ready");
      break;
    case "DRAIN":
      words.push("up", "drain");
      break;
    case "MAINT":
      words.push("maint");
      break;
    case "DOWN":
      words.push("down", "ready");
      break;
    case "FAIL":
      words.push("fail", "ready");
      break;
    case "STOPPED":
      words.push("stopped", "ready");
      break;
  }
  if (state.weight !== undefined) words.push(`${state.weight}%`);
  if (state.maxconn !== undefined) words.push(`maxconn:${state.maxconn}`);
  return `${words.join(" ")}\n`;
}

const MAX_REPLY = 1024;

/** Reads an agent reply as HAProxy 2.6 does; undefined while there is no CR/LF (HAProxy ignores such a reply). */
export function parseAgentReply(bytes: Buffer | string): AgentReport | undefined {
  const text = (typeof bytes === "string" ? bytes : bytes.toString("latin1")).slice(0, MAX_REPLY);
  const end = text.search(/[\r\n]/);
  if (end < 0) return undefined;
  const line = text.slice(0, end);
  const report: AgentReport = { errors: [] };
  const words = line.split(/[ \t,]+/).filter((w) => w !== "");
  for (let i = 0; i < words.length; i++) {
    const word = words[i] as string;
    if (word.startsWith("#")) {
      const at = line.indexOf(word);
      report.description = line.slice(at + 1).trim();
      break;
    }
    const w = word.toLowerCase();
    if (w === "up" || w === "down" || w === "fail" || w === "stopped") report.health = w;
    else if (w === "ready" || w === "drain" || w === "maint") report.admin = w;
    else if (/^\d+%$/.test(w)) report.weightPercent = Number(w.slice(0, -1));
    else if (/^maxconn:\d+$/.test(w)) report.maxconn = Number(w.slice(8));
    else report.errors.push(word);
  }
  return report;
}
