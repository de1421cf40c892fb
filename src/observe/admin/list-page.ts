import { ErrorCodes } from "../../core/errors.ts";
import { HttpError } from "./http.ts";
import type { ClusterMemberView, ClusterPage } from "./types.ts";

/** Every list of the API answers at most `limit` entries: this many when not asked. */
export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1_000;

/** The `limit` query parameter: an integer from 1 to MAX_LIMIT, DEFAULT_LIMIT when absent. */
export function limitOf(url: URL): number {
  const raw = url.searchParams.get("limit");
  const limit = raw === null ? DEFAULT_LIMIT : Number(raw);
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT)
    throw new HttpError(400, ErrorCodes.ADMIN_BAD_REQUEST, `limit is an integer from 1 to ${MAX_LIMIT}`);
  return limit;
}

/**
 * One page of the cluster's proxies in order of id: those after `?after=` (the `next` of the
 * page before), at most `?limit=`. An id names one etcd key, so no proxy shows on two pages;
 * one that registers or leaves between two requests shows or not, as on a fresh first page.
 */
export function clusterPage(
  cluster: { readonly id: string; readonly proxies: readonly ClusterMemberView[] },
  url: URL,
): ClusterPage {
  const limit = limitOf(url);
  const after = url.searchParams.get("after");
  const sorted = [...cluster.proxies].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const from = after === null ? 0 : firstAfter(sorted, after);
  const proxies = sorted.slice(from, from + limit);
  const last = proxies.at(-1);
  return {
    id: cluster.id,
    total: sorted.length,
    proxies,
    next: last !== undefined && from + limit < sorted.length ? last.id : null,
  };
}

/** The index of the first proxy whose id sorts after `id` (binary search). */
function firstAfter(sorted: readonly ClusterMemberView[], id: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as ClusterMemberView).id <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
