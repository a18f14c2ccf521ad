// Running hostile-input cases against parsers that are smaller than a whole image (headers, JSON, configs):
// seeded cases, each ending in a result or a typed error within a CPU budget, replayable one at a time.
//
// Replay one case: BOOTKEY_FUZZ_CASE=<target>:<index> npm test -- <file> (prints its mutations and outcome);
// BOOTKEY_FUZZ_TRACE=1 prints each case before it runs (for a hang).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BootkeyError } from '../../main/core/errors.js';
import type { ByteSource } from '../../main/ports/byte-source.js';
import { caseSeed, cpuMs, type Random } from './mutations.js';

/** One case: what was done to the input, in words, and the work that must end in a result or a typed error. */
export interface FuzzCase {
  steps: string[];
  /** Checks its own invariants (an AssertionError is a failure); resolves with a name for the outcome. */
  exercise: () => Promise<string> | string;
}

const replay = process.env.BOOTKEY_FUZZ_CASE?.split(':');

/**
 * A test that runs `cases` cases of `target`, seeded by caseSeed(target, index). Outcomes are tallied by name
 * ('typed' for a BootkeyError); at least two different ones must occur, or the mutations miss the parser's
 * checks (everything rejected) or never reach them (everything accepted).
 */
export function fuzzTest(target: string, cases: number, makeCase: (seed: number) => FuzzCase | Promise<FuzzCase>,
  { caseMs = 1000 }: { caseMs?: number } = {}): void {
  if (replay && replay[0] !== target) return;
  test(`${target}: ${replay ? `case ${replay[1]}` : `${cases} mutated cases`}`, { timeout: 120_000 }, async () => {
    const indices = replay ? [Number(replay[1])] : Array.from({ length: cases }, (_, i) => i);
    const outcomes: Record<string, number> = {};
    let slowest = 0;
    for (const index of indices) {
      const seed = caseSeed(target, index);
      const fuzzCase = await makeCase(seed);
      const label = `${target} case ${index} (seed ${seed}; ${fuzzCase.steps.join(', ').slice(0, 2000)})`;
      if (replay || process.env.BOOTKEY_FUZZ_TRACE) console.log(label);
      const started = cpuMs();
      let outcome: string;
      try {
        outcome = await fuzzCase.exercise();
      } catch (error) {
        if (!(error instanceof BootkeyError)) assert.fail(`${label}: ${error instanceof Error ? error.stack : String(error)}`);
        if (replay) console.log(`typed: ${error.message}`);
        outcome = 'typed';
      }
      const ms = cpuMs() - started;
      slowest = Math.max(slowest, ms);
      assert.ok(ms < caseMs, `${label}: took ${Math.round(ms)} ms of CPU`);
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
    console.log(`${target}: ${indices.length} cases ${JSON.stringify(outcomes)}, slowest ${Math.round(slowest)} ms of CPU`);
    if (!replay) assert.ok(Object.keys(outcomes).length > 1, `${target}: only one outcome: ${JSON.stringify(outcomes)}`);
  });
}

/** Thrown by a BudgetSource when a parser reads more than its budget; never a BootkeyError, so a case fails. */
class ReadBudgetExceeded extends Error {}

/** A source that fails a case reading more bytes in all than `budget` (a parser of a header reads a few KiB). */
export class BudgetSource implements ByteSource {
  bytesRead = 0;

  constructor(private readonly inner: ByteSource, private readonly budget: number) {}

  get size(): number {
    return this.inner.size;
  }

  read(offset: number, length: number): Promise<Uint8Array> {
    this.bytesRead += length;
    if (this.bytesRead > this.budget) throw new ReadBudgetExceeded(`read ${this.bytesRead} bytes (budget ${this.budget}), last ${length} at ${offset}`);
    return this.inner.read(offset, length);
  }
}

/**
 * `bytes` as the start of a source of `size` bytes whose rest reads as zeros: a large sparse file (an overlay,
 * a home.img) of which only the head matters, or the same head claiming an absurd size.
 */
export function sparseSource(bytes: Uint8Array, size: number): ByteSource {
  return {
    size,
    async read(offset, length) {
      const end = Math.min(size, offset + length);
      const out = new Uint8Array(Math.max(0, end - offset));
      if (offset < bytes.length) out.set(bytes.subarray(offset, Math.min(end, bytes.length)));
      return out;
    },
  };
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Stands for a deeply nested array in a mutated value; `jsonText` expands it (JSON.stringify would recurse). */
export const DEEP = '\u0001deep\u0001';

/** JSON text of a mutated value, with every DEEP made `depth` nested arrays. */
export function jsonText(value: Json, depth = 20_000): string {
  return JSON.stringify(value).replaceAll(JSON.stringify(DEEP), `${'['.repeat(depth)}${']'.repeat(depth)}`);
}

const WRONG_VALUES: Json[] = [null, true, 0, -1, 1.5, 2 ** 53, 1e308, '', 'x', '9'.repeat(17), '18446744073709551615', [], {}, [null], { 0: null }, DEEP];

/** A whole number in [0, n). */
export function below(next: Random, n: number): number {
  return Math.floor(next() * n);
}

export function pick<T>(next: Random, items: readonly T[]): T {
  const item = items[below(next, items.length)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/** A value of the wrong type or size; null a third of the time, the value code most often forgets. */
function wrongValue(next: Random): Json {
  return next() < 0.3 ? null : WRONG_VALUES[below(next, WRONG_VALUES.length)] ?? null;
}

/**
 * One structural change to a JSON document (a copy): a member removed, a value of the wrong type or size, one
 * of `strings` (hostile values of the format: paths, offsets) put in a string's place, an array element
 * repeated, a value wrapped in an array.
 */
export function mutateJson(root: Json, next: Random, strings: readonly string[]): { value: Json; step: string } {
  const value = structuredClone(root);
  // Members by depth, a depth picked first: the few shallow ones (a LUKS2 segment, a manifest operation) are hit
  // as often as the many deep leaves.
  const levels: { parent: Json[] | { [key: string]: Json }; key: string | number; where: string }[][] = [];
  const collect = (node: Json, where: string, depth: number) => {
    const children: [string | number, Json][] = Array.isArray(node) ? node.map((child, i) => [i, child])
      : node !== null && typeof node === 'object' ? Object.entries(node) : [];
    for (const [key, child] of children) {
      const at = typeof key === 'number' ? `${where}[${key}]` : `${where}.${key}`;
      (levels[depth] ??= []).push({ parent: node as Json[] | { [key: string]: Json }, key, where: at });
      collect(child, at, depth + 1);
    }
  };
  collect(value, '$', 0);
  const level = levels[below(next, levels.length)] ?? [];
  const slot = level[below(next, level.length)];
  if (!slot) return { value: wrongValue(next), step: '$ replaced' };
  const { parent, key, where } = slot;
  const current = (parent as Record<string | number, Json>)[key] ?? null;
  const set = (v: Json) => { (parent as Record<string | number, Json>)[key] = v; };
  const roll = next();
  if (roll < 0.2) {
    if (Array.isArray(parent)) parent.splice(key as number, 1);
    else delete parent[key as string];
    return { value, step: `${where} removed` };
  }
  if (roll < 0.5 && typeof current === 'string' && strings.length) {
    const s = strings[below(next, strings.length)] ?? '';
    set(s);
    return { value, step: `${where} = ${JSON.stringify(s).slice(0, 80)}` };
  }
  if (roll < 0.6 && Array.isArray(parent)) {
    parent.splice(key as number, 0, ...Array.from({ length: 1 + below(next, 3) }, () => structuredClone(current)));
    return { value, step: `${where} repeated` };
  }
  if (roll < 0.65) {
    set([current]);
    return { value, step: `${where} wrapped in an array` };
  }
  const wrong = wrongValue(next);
  set(structuredClone(wrong));
  return { value, step: `${where} = ${wrong === DEEP ? 'deep nesting' : JSON.stringify(wrong)}` };
}
