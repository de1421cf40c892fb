import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { type Link, LinkedSet } from "../../src/net/linked-set.ts";

test("add, remove in any order, and remove twice: size and members match a Set's", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.constant("add" as const), fc.nat({ max: 40 })), { maxLength: 200 }),
      (ops) => {
        const list = new LinkedSet<number>();
        const ref = new Set<number>();
        const links: Link<number>[] = [];
        let next = 0;
        for (const op of ops) {
          if (op === "add") {
            links.push(list.add(next));
            ref.add(next);
            next++;
          } else if (links.length > 0) {
            const link = links[op % links.length] as Link<number>;
            if (link.value !== undefined) ref.delete(link.value);
            list.remove(link);
          }
          assert.equal(list.size, ref.size);
        }
        assert.deepEqual(list.values(), [...ref]);
      },
    ),
  );
});

test("a removed link holds nothing: no member, no neighbours", () => {
  const list = new LinkedSet<{ id: number }>();
  const a = list.add({ id: 1 });
  const b = list.add({ id: 2 });
  const c = list.add({ id: 3 });
  list.remove(b);
  assert.equal(b.value, undefined);
  assert.equal(b.prev, undefined);
  assert.equal(b.next, undefined);
  assert.equal(a.next, c);
  assert.equal(c.prev, a);
  assert.deepEqual(
    list.values().map((v) => v.id),
    [1, 3],
  );
});

test("values() is a copy: removing members while walking it is safe", () => {
  const list = new LinkedSet<number>();
  const links = [1, 2, 3, 4].map((n) => list.add(n));
  const seen: number[] = [];
  for (const v of list.values()) {
    seen.push(v);
    for (const l of links) list.remove(l);
  }
  assert.deepEqual(seen, [1, 2, 3, 4]);
  assert.equal(list.size, 0);
  assert.deepEqual(list.values(), []);
});

test("walk() visits oldest first, copies nothing, and stops when told", () => {
  const list = new LinkedSet<number>();
  const links = [1, 2, 3, 4, 5].map((n) => list.add(n));
  list.remove(links[1] as Link<number>);
  const seen: number[] = [];
  list.walk((v) => {
    seen.push(v);
    return true;
  });
  assert.deepEqual(seen, [1, 3, 4, 5]);
  const upTo: number[] = [];
  list.walk((v) => {
    upTo.push(v);
    return v < 4;
  });
  assert.deepEqual(upTo, [1, 3, 4], "the walk stops at the first member visit refuses");
  const none: number[] = [];
  new LinkedSet<number>().walk((v) => {
    none.push(v);
    return true;
  });
  assert.deepEqual(none, []);
});

test("walk(): the member being visited may remove itself, and the walk goes on", () => {
  const list = new LinkedSet<number>();
  const links = new Map([1, 2, 3].map((n) => [n, list.add(n)] as const));
  const seen: number[] = [];
  list.walk((v) => {
    seen.push(v);
    list.remove(links.get(v) as Link<number>);
    return true;
  });
  assert.deepEqual(seen, [1, 2, 3]);
  assert.equal(list.size, 0);
});
