#!/usr/bin/env node
import { readFileSync } from "node:fs";

const HELP = `trunkline — a reverse proxy and load balancer for telephony application servers

usage:
  trunkline run -c FILE [--demo] [--pid-file P [--takeover]]
                                        run the proxy (also: trunkline -c FILE); --takeover
                                        replaces the one in the pid file with no session lost
  trunkline check -c FILE               validate a config; file:line:col path: message per problem
  trunkline route -c FILE URL [--header name=value ...]
                                        which listener, route and pool a request takes
  trunkline call agi://host:port/path?query [--header name=value ...]
                                        act as Asterisk: run one FastAGI session and print it
  trunkline demo [--listen 127.0.0.1:4574]
                                        a small demo FastAGI server
  trunkline agent [--listen host:port] [--state-file F]
                                        HAProxy agent-check responder for this app server
  trunkline agent set STATUS [--weight N] [--maxconn N]
                                        change the running agent's state
  trunkline ctl [--admin URL] [--token-file F] [--json] COMMAND
                                        the admin API from a shell: status, pools [NAME],
                                        sessions, drain|maint|ready POOL ADDRESS,
                                        weight POOL ADDRESS N|none, reload
  trunkline --version
`;

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  run: async () => (await import("./run.ts")).main,
  check: async () => (await import("./check.ts")).main,
  route: async () => (await import("./route.ts")).main,
  call: async () => (await import("./call.ts")).main,
  demo: async () => (await import("./demo.ts")).main,
  agent: async () => (await import("./agent.ts")).main,
  ctl: async () => (await import("./ctl.ts")).main,
};

async function dispatch(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "help" || first === "--help" || first === "-h") {
    process.stdout.write(HELP);
    return first === undefined ? 2 : 0;
  }
  if (first === "--version" || first === "-V") {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
      version: string;
    };
    process.stdout.write(`trunkline ${pkg.version}\n`);
    return 0;
  }
  // `trunkline -c FILE` is `trunkline run -c FILE`.
  if (first.startsWith("-")) return (await commands.run!())(argv);
  const load = commands[first];
  if (!load) {
    process.stderr.write(`unknown command "${first}"\n\n${HELP}`);
    return 2;
  }
  return (await load())(rest);
}

dispatch(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`trunkline: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
