// Where the gateway is and how to get in, from the environment the pytest module sets; and how results leave.
export const gatewayUrl = required("GATEWAY_URL");
export const headers = { "X-Majordomo-Key": required("MAJORDOMO_KEY") };
export const [mode, prompt, model] = process.argv.slice(2);

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
}

/** Run the named mode and print its result as one line of JSON (the pytest module parses stdout). */
export async function run(modes) {
  const fn = modes[mode];
  if (!fn) throw new Error(`mode must be one of ${Object.keys(modes).join(", ")}, got ${mode}`);
  process.stdout.write(JSON.stringify(await fn()) + "\n");
}
