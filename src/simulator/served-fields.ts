// An account's fields as served: its own (base or added), the changes tests made to it, and the
// fields a newer API version adds to every account and user.
import type { AccountFields } from './base-accounts.js';
import type { Override, UnknownFields } from './dataset-types.js';

/** Applies the override and the unknown fields to `f` (a copy the caller owns) and returns it. */
export function servedFields(f: AccountFields, o: Override | undefined, unknown: UnknownFields | null): AccountFields {
  if (o) {
    f.updatedUs = o.updatedUs;
    if (o.status !== undefined) f.status = o.status;
    if (o.name !== undefined) f.name = o.name;
    if (o.users !== undefined) {
      f.users = o.users;
      f.usersJson = undefined;
    }
    if (o.extra !== undefined) f.extra = o.extra;
  }
  if (unknown?.account) f.extra = { ...unknown.account, ...f.extra };
  if (unknown?.user) {
    f.users = f.users.map((u) => ({ ...u, extra: { ...unknown.user, ...u.extra } }));
    f.usersJson = undefined;
  }
  if (f.extra && Object.keys(f.extra).length === 0) delete f.extra;
  return f;
}
