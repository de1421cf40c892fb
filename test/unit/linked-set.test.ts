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
