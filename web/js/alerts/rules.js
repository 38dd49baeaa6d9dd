// Alert rules as the page shows and makes them, without the DOM (so node tests them): the
// rule a form's values describe, a rule's condition in one line, and its state's words.

// "env=prod, route=/pay" → {env: "prod", route: "/pay"}; an entry without "=" is an error,
// said with the entry, because the server would only name the field.
export function parseTags(text) {
  const tags = {};
  for (const entry of text.split(",").map((s) => s.trim()).filter(Boolean)) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new Error(`a tag is key=value: "${entry}"`);
    tags[entry.slice(0, eq).trim()] = entry.slice(eq + 1).trim();
  }
  return tags;
}

// The rule document (POST /api/v1/alerts) for the form's values: strings as typed, the
// action as {type, url}, a channel's name as itself. What the server would default is left
// out, so the stored rule is what a person would have written.
export function ruleFromForm(v) {
  const analytics = v.metric.startsWith("analytics:");
  const anomaly = v.operator === "anomaly";
  const condition = { operator: v.operator, duration: v.duration || "0s" };
  if (anomaly) {
    if (v.threshold !== "") condition.sensitivity = Number(v.threshold);
  } else {
    condition.threshold = Number(v.threshold);
  }
  const rule = {
    alert_name: v.name.trim(),
    metric: v.metric.trim(),
    aggregation: analytics ? "sum" : v.aggregation,
    window: v.window || "1m",
    condition,
    no_data: v.noData,
  };
  const tags = parseTags(v.tags || "");
  if (Object.keys(tags).length) rule.tags = tags;
  if (v.resolve !== "" && v.resolve !== undefined && !anomaly) rule.resolve_threshold = Number(v.resolve);
  if (v.actionType === "channel") rule.actions = [v.actionTarget.trim()];
  else if (v.actionType) rule.actions = [{ type: v.actionType, url: v.actionTarget.trim() }];
  return rule;
}

// "p99 of api.latency{route=/pay} over 5m > 250 for 1m" / "… anomaly (3σ) …".
export function describeCondition(rule) {
  const tags = Object.entries(rule.tags || {}).map(([k, v]) => `${k}=${v}`);
  const what = `${rule.aggregation || "avg"} of ${rule.metric}${tags.length ? `{${tags.join(", ")}}` : ""}`;
  const c = rule.condition || {};
  const test =
    c.operator === "anomaly"
      ? `anomaly (${c.sensitivity ?? 3}σ from the previous 60 windows)`
      : `${c.operator} ${c.threshold}`;
  const resolve = rule.resolve_threshold !== undefined ? `, resolved at ${rule.resolve_threshold}` : "";
  const lasting = c.duration && !/^0+(ms|s|m|h|d)?$/.test(c.duration) ? ` for ${c.duration}` : "";
  return `${what} over ${rule.window || "1m"} ${test}${lasting}${resolve}`;
}

// Where a rule's notices go, in words.
export function describeActions(actions = []) {
  if (!actions.length) return "nowhere: shown here only";
  return actions.map((a) => (typeof a === "string" ? `channel ${a}` : `${a.type} ${a.url}`)).join("; ");
}

// The order a list is read in: what needs someone first.
const STATE_ORDER = { firing: 0, pending: 1, resolved: 2, inactive: 3 };

export function byUrgency(a, b) {
  return (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9) || a.alert_name.localeCompare(b.alert_name);
}

export function formatValue(value) {
  if (value === null || value === undefined) return "no data";
  return String(Number(value.toPrecision(4)));
}
