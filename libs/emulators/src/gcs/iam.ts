import { HttpError } from './http.ts';

/** A bucket's IAM policy, as `gcloud storage buckets get-iam-policy` shows it. */
export interface GcsBucketIam {
  bindings: { role: string; members: string[] }[];
}

/**
 * Who may do what: bearer tokens and the member each stands for (`serviceAccount:…`), and each
 * bucket's IAM policy (infra/policies/gcs-bucket-iam.json, as the README documents it). With it,
 * a request without a known token is 401, and one whose member lacks the permission is 403.
 */
export interface GcsEnforcement {
  tokens: Record<string, string>;
  policies: Record<string, GcsBucketIam>;
  /** Told every permission check, for tests that check who did what. */
  onDecision?: (decision: { principal: string; action: string; resource: string; allowed: boolean }) => void;
}

const CREATE = 'storage.objects.create';
const DELETE = 'storage.objects.delete';
const GET = 'storage.objects.get';
const LIST = 'storage.objects.list';

/** The object permissions of Google's predefined storage roles (cloud.google.com/storage/docs/access-control/iam-roles). */
const ROLE_PERMISSIONS: Record<string, string[]> = {
  'roles/storage.objectCreator': [CREATE],
  'roles/storage.objectViewer': [GET, LIST],
  'roles/storage.objectUser': [CREATE, DELETE, GET, LIST, 'storage.objects.update'],
  'roles/storage.objectAdmin': [CREATE, DELETE, GET, LIST, 'storage.objects.update'],
  'roles/storage.admin': [CREATE, DELETE, GET, LIST, 'storage.objects.update', 'storage.buckets.get'],
};

/** A request's member and the permissions the bucket's policy gives it. */
export class Grant {
  readonly member: string;
  readonly #permissions: Set<string>;
  readonly #onDecision: GcsEnforcement['onDecision'];

  constructor(member: string, permissions: Set<string>, onDecision?: GcsEnforcement['onDecision']) {
    this.member = member;
    this.#permissions = permissions;
    this.#onDecision = onDecision;
  }

  /** Throws 403 unless the member holds the permission. */
  require(permission: string, what: string): void {
    const allowed = this.#permissions.has(permission);
    this.#onDecision?.({ principal: this.member, action: permission, resource: what, allowed });
    if (!allowed) {
      throw new HttpError(403, `${this.member} does not have ${permission} access to ${what}.`, 'forbidden');
    }
  }

  /** Replacing an object needs delete as well as create: objectCreator can only add new names. */
  get mayOverwrite(): boolean {
    return this.#permissions.has(DELETE);
  }
}

/** The grant of a request's bearer token on a bucket; 401 without a token the emulator knows. */
export function grantFor(rules: GcsEnforcement, authorization: string | undefined, bucket: string): Grant {
  const token = /^Bearer\s+(\S+)$/i.exec(authorization ?? '')?.[1];
  const member = token === undefined ? undefined : rules.tokens[token];
  if (member === undefined) throw new HttpError(401, 'Anonymous caller does not have access.', 'required');
  const permissions = new Set<string>();
  for (const binding of rules.policies[bucket]?.bindings ?? []) {
    if (!binding.members.includes(member)) continue;
    for (const p of ROLE_PERMISSIONS[binding.role] ?? []) permissions.add(p);
  }
  return new Grant(member, permissions, rules.onDecision);
}

export const PERMISSIONS = { CREATE, DELETE, GET, LIST } as const;
