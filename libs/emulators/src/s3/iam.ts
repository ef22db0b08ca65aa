/**
 * The part of AWS's policy evaluation the stand-in enforces, for the bucket policy the README
 * documents (infra/policies/s3-bucket-policy.json): an explicit Deny wins, then any Allow, and
 * nothing else is allowed. Statements name their Principal by ARN; Action and Resource take `*`
 * and `?`; conditions take StringEquals, StringLike, Bool and Null. Anything else in a policy is
 * refused at start rather than ignored, so a test cannot pass on a rule nobody checks.
 */

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Principal: { AWS: string | string[] };
  Action: string | string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface BucketPolicy {
  Version: string;
  Statement: PolicyStatement[];
}

/** One request as the policy sees it: who, what, on which ARN, with which condition keys. */
export interface PolicyRequest {
  principal: string;
  action: string;
  resource: string;
  /** Condition keys the request carries (absent keys are what `Null` tests). */
  context: Record<string, string>;
}

const OPERATORS = new Set(['StringEquals', 'StringLike', 'Bool', 'Null']);

/** Checks a policy uses only what this evaluator understands. */
export function assertSupportedPolicy(policy: BucketPolicy): void {
  for (const s of policy.Statement) {
    if (s.Effect !== 'Allow' && s.Effect !== 'Deny')
      throw new Error(`statement ${s.Sid}: Effect ${s.Effect}`);
    for (const op of Object.keys(s.Condition ?? {})) {
      if (!OPERATORS.has(op))
        throw new Error(`statement ${s.Sid}: condition operator ${op} is not enforced here`);
    }
  }
}

const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

/** IAM wildcards: `*` any run of characters, `?` one character; case-sensitive (ARNs, keys). */
function wildcard(pattern: string, value: string, caseless = false): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`, caseless ? 'is' : 's').test(value);
}

function conditionHolds(
  operator: string,
  key: string,
  wanted: string[],
  context: Record<string, string>,
): boolean {
  const value = context[key];
  if (operator === 'Null') return wanted.some((w) => (w === 'true') === (value === undefined));
  if (value === undefined) return false;
  if (operator === 'StringLike') return wanted.some((w) => wildcard(w, value));
  if (operator === 'Bool') return wanted.some((w) => w.toLowerCase() === value.toLowerCase());
  return wanted.includes(value);
}

function matches(s: PolicyStatement, r: PolicyRequest): boolean {
  if (!list(s.Principal.AWS).some((p) => p === '*' || p === r.principal)) return false;
  // Action names are case-insensitive in IAM.
  if (!list(s.Action).some((a) => wildcard(a, r.action, true))) return false;
  if (!list(s.Resource).some((res) => wildcard(res, r.resource))) return false;
  return Object.entries(s.Condition ?? {}).every(([operator, keys]) =>
    Object.entries(keys).every(([key, wanted]) => conditionHolds(operator, key, list(wanted), r.context)),
  );
}

/** 'allow' only when some Allow statement matches and no Deny does. */
export function evaluate(policy: BucketPolicy, request: PolicyRequest): 'allow' | 'deny' {
  const hits = policy.Statement.filter((s) => matches(s, request));
  if (hits.some((s) => s.Effect === 'Deny')) return 'deny';
  return hits.some((s) => s.Effect === 'Allow') ? 'allow' : 'deny';
}

/** The values the policy templates in infra/policies/ name in capitals. */
export type PolicyValues = Record<string, string>;

/** Fills a policy template's placeholders (BUCKET, PREFIX, AGENT_PRINCIPAL_ARN…) and parses it. */
export function renderPolicy<T>(template: string, values: PolicyValues): T {
  let text = template;
  // Longest names first, so PREFIX never eats part of a longer placeholder.
  for (const name of Object.keys(values).sort((a, b) => b.length - a.length)) {
    text = text.replaceAll(name, values[name] ?? '');
  }
  return JSON.parse(text) as T;
}
